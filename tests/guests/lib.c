/* lib.c: test-guest runtime: start, reporting, reset, cmdline, strings */
#include "lib.h"

struct vb_boot_params *vb_bp;
const char *vb_cmdline = "";
const char *vb_cmdline_error;

static unsigned npass, nfail;

/* ---- reporting ------------------------------------------------------ */

/*
 * One line per event, always starting "VBTEST ", so a host can grep the
 * console: PASS/FAIL lines are counted, SKIP/INFO are informative, and
 * DONE ends the run.
 */
static void report(const char *what, const char *check, const char *fmt,
		   va_list ap)
{
	vb_printf("VBTEST %s %s: ", what, check);
	vb_vprintf(fmt, ap);
	vb_putc('\n');
}

void vb_pass(const char *check, const char *fmt, ...)
{
	va_list ap;

	npass++;
	va_start(ap, fmt);
	report("PASS", check, fmt, ap);
	va_end(ap);
}

void vb_fail(const char *check, const char *fmt, ...)
{
	va_list ap;

	nfail++;
	va_start(ap, fmt);
	report("FAIL", check, fmt, ap);
	va_end(ap);
}

bool vb_check(bool ok, const char *check, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		npass++;
	else
		nfail++;
	va_start(ap, fmt);
	report(ok ? "PASS" : "FAIL", check, fmt, ap);
	va_end(ap);
	return ok;
}

void vb_skip(const char *check, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report("SKIP", check, fmt, ap);
	va_end(ap);
}

void vb_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report("INFO", vb_guest_name, fmt, ap);
	va_end(ap);
}

noreturn void vb_finish(void)
{
	vb_printf("VBTEST DONE %s pass=%u fail=%u\n", vb_guest_name, npass,
		  nfail);
	vb_reset();
}

/*
 * The voidbox VMM ends the VM on the i8042 "pulse reset line" command
 * (it has an i8042 stub for exactly this, like Firecracker).  QEMU's
 * microvm has no i8042, so fall back to a triple fault: int3 with a
 * zero-limit IDT faults, the #GP cannot be delivered either, and the
 * #DF neither, which resets the CPU (SDM 3A §6.15, "Interrupt 8");
 * with -no-reboot QEMU then exits.
 */
noreturn void vb_reset(void)
{
	static const struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) no_idt = { 0, 0 };
	int i;

	vb_outb(0x64, 0xfe);
	for (i = 0; i < 1000; i++)	/* give a real 8042 time to act */
		__asm__ __volatile__("pause");
	__asm__ __volatile__("lidt %0; int3" : : "m"(no_idt));
	for (;;)
		__asm__ __volatile__("cli; hlt");
}

/* ---- exceptions ----------------------------------------------------- */

struct exc_frame {		/* pushed by head.S and the CPU */
	uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

struct idt_gate {
	uint16_t off0, sel;
	uint8_t ist, type;	/* 0x8e: present, DPL 0, 64-bit intr gate */
	uint16_t off1;
	uint32_t off2, zero;
} __attribute__((packed));

static struct idt_gate idt[32];

static void idt_init(void)
{
	const struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) desc = { sizeof(idt) - 1, (uintptr_t)idt };
	unsigned i;

	for (i = 0; i < 32; i++) {
		uint64_t a = (uintptr_t)vb_exc_stubs + 16 * i;

		idt[i] = (struct idt_gate){
			.off0 = (uint16_t)a, .sel = 0x10, .type = 0x8e,
			.off1 = (uint16_t)(a >> 16),
			.off2 = (uint32_t)(a >> 32),
		};
	}
	__asm__ __volatile__("lidt %0" : : "m"(desc));
}

/* Called by head.S; an exception in a test guest is always a failure. */
noreturn void vb_exception(const struct exc_frame *f);
noreturn void vb_exception(const struct exc_frame *f)
{
	uint64_t cr2;

	__asm__ __volatile__("mov %%cr2, %0" : "=r"(cr2));
	vb_fail("exception", "vector %lu error %#lx rip %#lx rflags %#lx "
		"cr2 %#lx", f->vector, f->error, f->rip, f->rflags, cr2);
	vb_finish();
}

/* ---- command line --------------------------------------------------- */

/* boot.rst: cmd_line_ptr, plus ext_cmd_line_ptr (bits 63:32) since 2.12 */
static void cmdline_init(struct vb_boot_params *bp)
{
	uint64_t p = bp->hdr.cmd_line_ptr |
		     (uint64_t)bp->ext_cmd_line_ptr << 32;

	if (!p)
		vb_cmdline_error = "cmd_line_ptr is 0";
	else if (p + VB_CMDLINE_MAX > VB_MAPPED_LIMIT)
		vb_cmdline_error = "cmd_line_ptr beyond mapped memory";
	else if (vb_strnlen((const char *)p, VB_CMDLINE_MAX) ==
		 VB_CMDLINE_MAX)
		vb_cmdline_error = "cmdline not NUL-terminated in 4 KiB";
	else
		vb_cmdline = (const char *)p;
}

const char *vb_param_next(const char *key, const char **pos, size_t *len)
{
	size_t klen = strlen(key);
	const char *p = *pos ? *pos : vb_cmdline;

	while (*p) {
		const char *w = p;

		while (*p && *p != ' ')
			p++;
		if ((size_t)(p - w) > klen && !memcmp(w, key, klen) &&
		    w[klen] == '=') {
			*pos = p;
			if (len)
				*len = (size_t)(p - w) - klen - 1;
			return w + klen + 1;
		}
		while (*p == ' ')
			p++;
	}
	*pos = p;
	return NULL;
}

const char *vb_param(const char *key, size_t *len)
{
	const char *pos = NULL;

	return vb_param_next(key, &pos, len);
}

static bool parse_u64(const char *v, size_t len, unsigned base,
		      uint64_t *out)
{
	uint64_t r = 0;
	size_t i;

	if (base == 16 && len > 2 && v[0] == '0' && (v[1] | 0x20) == 'x') {
		v += 2;
		len -= 2;
	}
	if (!len || len > (base == 16 ? 16 : 19))
		return false;
	for (i = 0; i < len; i++) {
		unsigned d;
		char c = v[i];

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (unsigned)((c | 0x20) - 'a' + 10);
		else
			return false;
		r = r * base + d;
	}
	*out = r;
	return true;
}

bool vb_parse_u64(const char *s, size_t len, uint64_t *out)
{
	if (len > 2 && s[0] == '0' && (s[1] | 0x20) == 'x')
		return parse_u64(s, len, 16, out);
	return parse_u64(s, len, 10, out);
}

bool vb_param_u64(const char *key, uint64_t *out)
{
	size_t len;
	const char *v = vb_param(key, &len);

	return v && vb_parse_u64(v, len, out);
}

bool vb_param_hex(const char *key, uint64_t *out)
{
	size_t len;
	const char *v = vb_param(key, &len);

	return v && parse_u64(v, len, 16, out);
}

bool vb_param_is(const char *key, const char *value)
{
	size_t len;
	const char *v = vb_param(key, &len);

	return v && len == strlen(value) && !memcmp(v, value, len);
}

/* ---- start ---------------------------------------------------------- */

noreturn void vb_start(struct vb_boot_params *bp);
noreturn void vb_start(struct vb_boot_params *bp)
{
	vb_bp = bp;
	idt_init();
	cmdline_init(bp);
	vb_info("entry=%u-bit at %#lx boot_params=%p", vb_entry_kind,
		vb_entry_addr, (void *)bp);
	guest_main(bp);
	vb_finish();
}

/* ---- strings (the compiler may emit calls to the first four) -------- */

/*
 * String instructions: also keep gcc from compiling these into calls.
 * Eight bytes per step first: under nested KVM a guest memory access can
 * cost microseconds, so the width matters more than ERMS tricks.
 */
void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;
	size_t q = n / 8, r = n % 8;

	__asm__ __volatile__("rep movsq; mov %3, %%rcx; rep movsb"
			     : "+D"(d), "+S"(src), "+c"(q) : "r"(r)
			     : "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d < s || d >= s + n) {
		while (n--)
			*d++ = *s++;
	} else {
		while (n--)
			d[n] = s[n];
	}
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;
	size_t q = n / 8, r = n % 8;
	uint64_t v = (uint8_t)c * 0x0101010101010101ull;

	__asm__ __volatile__("rep stosq; mov %3, %%rcx; rep stosb"
			     : "+D"(d), "+c"(q) : "a"(v), "r"(r)
			     : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

size_t vb_strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

/* zlib's CRC-32, table-driven: an initrd of some MiB must stay fast. */
uint32_t vb_crc32(const void *p, size_t n)
{
	static uint32_t table[256];
	const uint8_t *b = p;
	uint32_t crc = ~0u;

	if (!table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	while (n--)
		crc = table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
