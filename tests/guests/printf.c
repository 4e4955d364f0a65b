/* printf.c: COM1 output and a small printf for the test guests */
#include "lib.h"

/*
 * 8250/16550 UART, used without programming it: the VMM's UART model and
 * QEMU's both accept THR writes in their reset state.  LSR bit 5 (THRE)
 * is polled to be polite to a real-ish model, but only for a bounded
 * time, and not at all once it has timed out, so a UART model that
 * reads LSR as 0 costs one slow character, not a hang.
 */
#define UART_THR	0
#define UART_LSR	5
#define UART_LSR_THRE	0x20
#define THRE_SPINS	1000

static bool thre_broken;

void vb_putc(char c)
{
	int i;

	for (i = 0; !thre_broken; i++) {
		if (vb_inb(VB_COM1 + UART_LSR) & UART_LSR_THRE)
			break;
		if (i == THRE_SPINS)
			thre_broken = true;
	}
	vb_outb(VB_COM1 + UART_THR, (uint8_t)c);
}

void vb_puts(const char *s)
{
	while (*s)
		vb_putc(*s++);
}

/* Output sink: the UART (buf == NULL) or a bounded buffer. */
struct sink {
	char *buf;
	size_t size;
	size_t len;		/* characters produced, even if not stored */
};

static void emit(struct sink *o, char c)
{
	if (!o->buf)
		vb_putc(c);
	else if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

/* As C's printf: width counts the prefix ("-" or "0x"). */
static void emit_num(struct sink *o, uint64_t v, unsigned base, bool upper,
		     const char *prefix, int width, char pad, bool left)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	const char *p;
	char tmp[24];
	int n = 0, len;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	len = n + (int)strlen(prefix);
	for (p = prefix; pad == '0' && *p; p++)
		emit(o, *p);
	for (; !left && len < width; len++)
		emit(o, pad);
	for (p = prefix; pad != '0' && *p; p++)
		emit(o, *p);
	while (n)
		emit(o, tmp[--n]);
	for (; left && len < width; len++)
		emit(o, ' ');
}

static void format(struct sink *o, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		int width = 0, lng = 0, prec = -1;
		bool left = false, alt = false;
		char pad = ' ';
		uint64_t u;
		int64_t s;
		const char *str;
		size_t n;

		if (*fmt != '%') {
			emit(o, *fmt);
			continue;
		}
		fmt++;
		for (; *fmt == '-' || *fmt == '0' || *fmt == '#'; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '#')
				alt = true;
			else
				pad = '0';
		}
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		if (*fmt == '.') {		/* precision: %s only */
			prec = 0;
			if (*++fmt == '*') {
				prec = va_arg(ap, int);
				fmt++;
			}
			for (; *fmt >= '0' && *fmt <= '9'; fmt++)
				prec = prec * 10 + (*fmt - '0');
		}
		for (; *fmt == 'l' || *fmt == 'z'; fmt++)
			lng++;
		switch (*fmt) {
		case 'd':
		case 'i':
			s = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			u = s < 0 ? -(uint64_t)s : (uint64_t)s;
			emit_num(o, u, 10, false, s < 0 ? "-" : "", width,
				 pad, left);
			break;
		case 'u':
		case 'x':
		case 'X':
			u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			/* "#": 0x even for 0, unlike C */
			str = !alt || *fmt == 'u' ? "" :
			      *fmt == 'x' ? "0x" : "0X";
			emit_num(o, u, *fmt == 'u' ? 10 : 16, *fmt == 'X',
				 str, width, pad, left);
			break;
		case 'p':
			u = (uintptr_t)va_arg(ap, void *);
			emit_num(o, u, 16, false, "0x", width, pad, left);
			break;
		case 'c':
			emit(o, (char)va_arg(ap, int));
			break;
		case 's':
			str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			n = vb_strnlen(str, prec < 0 ? SIZE_MAX : (size_t)prec);
			width -= (int)n;
			for (; !left && width > 0; width--)
				emit(o, ' ');
			while (n--)
				emit(o, *str++);
			for (; left && width > 0; width--)
				emit(o, ' ');
			break;
		case '%':
			emit(o, '%');
			break;
		case '\0':
			return;
		default:		/* unknown: show it verbatim */
			emit(o, '%');
			emit(o, *fmt);
			break;
		}
	}
}

int vb_vprintf(const char *fmt, va_list ap)
{
	struct sink o = { .buf = NULL };

	format(&o, fmt, ap);
	return (int)o.len;
}

int vb_printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vb_vprintf(fmt, ap);
	va_end(ap);
	return n;
}

/* Like C11 snprintf: always NUL-terminates when size > 0. */
int vb_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	struct sink o = { .buf = buf, .size = size };
	va_list ap;

	va_start(ap, fmt);
	format(&o, fmt, ap);
	va_end(ap);
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}
