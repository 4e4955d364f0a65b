/* serial.c: a 16550A UART at COM1 (0x3f8, IRQ 4), output only.
 *
 * Enough of the register file for Linux's 8250 driver to detect a 16550A
 * and drive it: the console writes polled (LSR.THRE is always set, output
 * is consumed instantly), while the tty layer writes interrupt-driven, so
 * a THR-empty interrupt is raised whenever IER.THRI is enabled and the
 * transmitter is (always) empty (16550 datasheet, "IIR priority").
 * Input is not modelled: the guest is driven over vsock, never the console.
 *
 * Output goes to a ring (the tail is shown when a boot fails) and, with
 * --console, to stderr line by line.
 */
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm.h"

#define UART_IRQ 4
enum { RBR_THR, IER, IIR_FCR, LCR, MCR, LSR, MSR, SCR };
#define LCR_DLAB 0x80
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_FIFO 0xc0
#define LSR_THRE_TEMT 0x60
#define MSR_DCD_DSR_CTS 0xb0
#define MCR_LOOP 0x10

void serial_init(struct serial *s, bool echo)
{
	pthread_mutex_init(&s->lock, NULL);
	s->echo = echo;
	s->lcr = 0x03;
}

static void pulse_irq(struct vm *vm)
{
	struct kvm_irq_level l = { .irq = UART_IRQ, .level = 1 };

	ioctl(vm->vm_fd, KVM_IRQ_LINE, &l);
	l.level = 0;
	ioctl(vm->vm_fd, KVM_IRQ_LINE, &l);
}

static void echo_flush(struct serial *s)
{
	if (s->line_len) {
		(void)!write(STDERR_FILENO, s->line, s->line_len);
		s->line_len = 0;
	}
}

static void put_byte(struct serial *s, uint8_t c)
{
	s->tail[s->tail_pos++] = (char)c;
	if (s->tail_pos == SERIAL_TAIL) {
		s->tail_pos = 0;
		s->tail_wrapped = true;
	}
	if (!s->echo || c == '\r')
		return;
	s->line[s->line_len++] = (char)c;
	if (c == '\n' || s->line_len == sizeof(s->line))
		echo_flush(s);
}

void serial_flush(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	echo_flush(s);
	pthread_mutex_unlock(&s->lock);
}

void serial_out(struct vm *vm, unsigned off, uint8_t v)
{
	struct serial *s = &vm->serial;
	bool irq = false;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case RBR_THR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			break;
		}
		if (!(s->mcr & MCR_LOOP))
			put_byte(s, v);
		/* Transmission is instant: THR is empty again. */
		if (s->ier & IER_THRI)
			irq = s->thri_pending = true;
		break;
	case IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		if ((v & IER_THRI) && !(s->ier & IER_THRI))
			irq = s->thri_pending = true;
		s->ier = v & 0x0f;
		if (!(s->ier & IER_THRI))
			s->thri_pending = false;
		break;
	case IIR_FCR:
		s->fcr = v;
		break;
	case LCR:
		s->lcr = v;
		break;
	case MCR:
		s->mcr = v & 0x1f;
		break;
	case SCR:
		s->scr = v;
		break;
	default:
		break;	/* LSR/MSR are read-only */
	}
	pthread_mutex_unlock(&s->lock);
	if (irq)
		pulse_irq(vm);
}

uint8_t serial_in(struct vm *vm, unsigned off)
{
	struct serial *s = &vm->serial;
	uint8_t v = 0;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case RBR_THR:
		v = (s->lcr & LCR_DLAB) ? s->dll : 0;
		break;
	case IER:
		v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
		break;
	case IIR_FCR:
		v = (s->fcr & 1) ? IIR_FIFO : 0;
		if (s->thri_pending) {
			v |= IIR_THRI;
			s->thri_pending = false;	/* reading IIR acks */
		} else {
			v |= IIR_NONE;
		}
		break;
	case LCR:
		v = s->lcr;
		break;
	case MCR:
		v = s->mcr;
		break;
	case LSR:
		v = LSR_THRE_TEMT;
		break;
	case MSR:
		/* In loopback the modem inputs mirror MCR (the 8250 probe
		 * checks this); otherwise carrier, DSR and CTS are up. */
		if (s->mcr & MCR_LOOP)
			v = (uint8_t)(((s->mcr & 0x0c) << 4) |
				      ((s->mcr & 0x01) << 5) |
				      ((s->mcr & 0x02) << 3));
		else
			v = MSR_DCD_DSR_CTS;
		break;
	case SCR:
		v = s->scr;
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return v;
}

size_t serial_tail(struct serial *s, char *buf, size_t len)
{
	size_t n = 0;

	if (!len)
		return 0;
	pthread_mutex_lock(&s->lock);
	size_t have = s->tail_wrapped ? SERIAL_TAIL : s->tail_pos;
	size_t start = s->tail_wrapped ? s->tail_pos : 0;
	size_t skip = have > len - 1 ? have - (len - 1) : 0;
	for (size_t i = skip; i < have; i++)
		buf[n++] = s->tail[(start + i) % SERIAL_TAIL];
	pthread_mutex_unlock(&s->lock);
	buf[n] = '\0';
	return n;
}
