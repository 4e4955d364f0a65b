/* virtio_mmio.c: the virtio-mmio version 2 register file (virtio 1.2 §4.2.2).
 *
 * The guest reaches these registers through MMIO exits on its vCPU
 * threads. Accesses of the wrong width, to unknown offsets, or that write
 * read-only registers are ignored (reads return 0), never fatal: §4.2.2.2
 * only obliges a driver to use 32-bit aligned accesses, and a hostile one
 * won't. Queue configuration is accepted only while the queue is not
 * ready, as §4.2.2.2 requires of the driver.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "devices.h"
#include "../util/util.h"

enum {
	MAGIC = 0x000, VERSION = 0x004, DEVICE_ID = 0x008, VENDOR_ID = 0x00c,
	DEV_FEATURES = 0x010, DEV_FEATURES_SEL = 0x014,
	DRV_FEATURES = 0x020, DRV_FEATURES_SEL = 0x024,
	QUEUE_SEL = 0x030, QUEUE_NUM_MAX = 0x034, QUEUE_NUM = 0x038,
	QUEUE_READY = 0x044, QUEUE_NOTIFY = 0x050,
	INTERRUPT_STATUS = 0x060, INTERRUPT_ACK = 0x064, STATUS = 0x070,
	QUEUE_DESC_LOW = 0x080, QUEUE_DESC_HIGH = 0x084,
	QUEUE_AVAIL_LOW = 0x090, QUEUE_AVAIL_HIGH = 0x094,
	QUEUE_USED_LOW = 0x0a0, QUEUE_USED_HIGH = 0x0a4,
	SHM_SEL = 0x0ac, SHM_LEN_LOW = 0x0b0, SHM_LEN_HIGH = 0x0b4,
	SHM_BASE_LOW = 0x0b8, SHM_BASE_HIGH = 0x0bc,
	CONFIG_GENERATION = 0x0fc, CONFIG = 0x100,
};

#define MMIO_MAGIC 0x74726976u	/* "virt" */
#define VENDOR_VOIDBOX 0x56424f58u	/* "VBOX" */
#define STATUS_DRIVER_OK 4u
#define STATUS_FEATURES_OK 8u
#define STATUS_NEEDS_RESET 0x40u
#define INT_USED_BUFFER 1u
#define INT_CONFIG_CHANGE 2u

void virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops,
		     const char *name, uint32_t device_id, uint64_t features,
		     unsigned nqueues, const struct gmem *mem)
{
	*d = (struct virtio_dev){
		.ops = ops, .name = name, .device_id = device_id,
		.host_features = features | VIRTIO_FEAT_VERSION_1,
		.nqueues = nqueues < VIRTIO_MAX_QUEUES ? nqueues
						       : VIRTIO_MAX_QUEUES,
		.mem = mem,
	};
	pthread_mutex_init(&d->lock, NULL);
}

void virtio_guest_error(struct virtio_dev *d, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (d->warned >= 8)
		return;		/* a hostile guest must not flood our logs */
	d->warned++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("virtio-%s: guest error: %s%s", d->name, msg,
		  d->warned == 8 ? " (further errors not logged)" : "");
}

bool virtio_dev_live(const struct virtio_dev *d)
{
	return (d->status & STATUS_DRIVER_OK) &&
	       !(d->status & STATUS_NEEDS_RESET);
}

static void device_reset(struct virtio_dev *d)
{
	if (d->ops->reset)
		d->ops->reset(d);
	d->status = 0;
	d->driver_features = 0;
	d->interrupt_status = 0;
	d->queue_sel = 0;
	for (unsigned i = 0; i < d->nqueues; i++)
		d->vqs[i] = (struct virtq){ 0 };
}

void virtio_notify_queue(struct virtio_dev *d, unsigned q)
{
	struct virtq *vq = &d->vqs[q];

	if (vq->broken && !(d->status & STATUS_NEEDS_RESET)) {
		/* §2.1.2: tell the driver, through a config interrupt. */
		virtio_guest_error(d, "queue %u corrupted by the driver; "
				   "device needs reset", q);
		d->status |= STATUS_NEEDS_RESET;
		d->interrupt_status |= INT_CONFIG_CHANGE;
		if (d->raise_irq)
			d->raise_irq(d);
		return;
	}
	if (!virtq_should_notify(vq, d->mem))
		return;
	d->interrupt_status |= INT_USED_BUFFER;
	if (d->raise_irq)
		d->raise_irq(d);
}

static struct virtq *sel_queue(struct virtio_dev *d)
{
	return d->queue_sel < d->nqueues ? &d->vqs[d->queue_sel] : NULL;
}

static uint32_t reg_read(struct virtio_dev *d, uint64_t off)
{
	struct virtq *q = sel_queue(d);

	switch (off) {
	case MAGIC: return MMIO_MAGIC;
	case VERSION: return 2;
	case DEVICE_ID: return d->device_id;
	case VENDOR_ID: return VENDOR_VOIDBOX;
	case DEV_FEATURES:
		return d->host_features_sel > 1 ? 0 :
		       (uint32_t)(d->host_features >> (32 * d->host_features_sel));
	case QUEUE_NUM_MAX: return q ? VIRTQ_MAX_SIZE : 0;
	case QUEUE_READY: return q ? q->ready : 0;
	case INTERRUPT_STATUS: return d->interrupt_status;
	case STATUS: return d->status;
	case CONFIG_GENERATION: return d->config_generation;
	case SHM_LEN_LOW: case SHM_LEN_HIGH:
		return ~0u;	/* no shared memory regions (§4.2.2) */
	default: return 0;
	}
}

static void set_half(uint64_t *v, uint32_t val, bool high)
{
	*v = high ? (*v & 0xffffffffull) | ((uint64_t)val << 32)
		  : (*v & ~0xffffffffull) | val;
}

static void reg_write(struct virtio_dev *d, uint64_t off, uint32_t v)
{
	struct virtq *q = sel_queue(d);
	bool cfg = q && !q->ready;	/* queue registers writable */

	switch (off) {
	case DEV_FEATURES_SEL: d->host_features_sel = v; break;
	case DRV_FEATURES_SEL: d->driver_features_sel = v; break;
	case DRV_FEATURES:
		if (d->driver_features_sel <= 1 &&
		    !(d->status & STATUS_FEATURES_OK)) {
			uint64_t f = d->driver_features;
			set_half(&f, v, d->driver_features_sel == 1);
			d->driver_features = f & d->host_features;
		}
		break;
	case QUEUE_SEL: d->queue_sel = v; break;
	case QUEUE_NUM:
		if (cfg && v && v <= VIRTQ_MAX_SIZE && !(v & (v - 1)))
			q->size = (uint16_t)v;
		else if (cfg)
			virtio_guest_error(d, "bad queue size %u", v);
		break;
	case QUEUE_READY:
		if (!q)
			break;
		if (v == 1 && !q->ready) {
			if (!q->size)
				q->size = VIRTQ_MAX_SIZE;
			q->ready = true;
			q->last_avail = q->used_idx = 0;
			q->broken = false;
		} else if (v == 0) {
			q->ready = false;
		}
		break;
	case QUEUE_NOTIFY:
		/* Normally an ioeventfd consumes this in the kernel; this
		 * path serves hosts or tests without one. */
		if (v < d->nqueues && virtio_dev_live(d) && d->ops->queue_notify)
			d->ops->queue_notify(d, v);
		break;
	case INTERRUPT_ACK: d->interrupt_status &= ~v; break;
	case STATUS:
		if (v == 0) {
			device_reset(d);
			break;
		}
		if ((v & STATUS_FEATURES_OK) &&
		    !(d->driver_features & VIRTIO_FEAT_VERSION_1))
			v &= ~STATUS_FEATURES_OK;	/* legacy: refuse */
		{
			bool was_ok = d->status & STATUS_DRIVER_OK;
			d->status = v | (d->status & STATUS_NEEDS_RESET);
			if (!was_ok && (v & STATUS_DRIVER_OK) &&
			    d->ops->driver_ok)
				d->ops->driver_ok(d);
		}
		break;
	case QUEUE_DESC_LOW: case QUEUE_DESC_HIGH:
		if (cfg)
			set_half(&q->desc_gpa, v, off == QUEUE_DESC_HIGH);
		break;
	case QUEUE_AVAIL_LOW: case QUEUE_AVAIL_HIGH:
		if (cfg)
			set_half(&q->avail_gpa, v, off == QUEUE_AVAIL_HIGH);
		break;
	case QUEUE_USED_LOW: case QUEUE_USED_HIGH:
		if (cfg)
			set_half(&q->used_gpa, v, off == QUEUE_USED_HIGH);
		break;
	default:
		break;	/* read-only or unknown: ignored */
	}
}

void virtio_mmio_read(struct virtio_dev *d, uint64_t off, void *data,
		      unsigned len)
{
	memset(data, 0, len);
	pthread_mutex_lock(&d->lock);
	if (off >= CONFIG) {
		if (d->ops->config_read)
			d->ops->config_read(d, (uint32_t)(off - CONFIG), data,
					    len);
	} else if (len == 4 && !(off & 3)) {
		uint32_t v = reg_read(d, off);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&d->lock);
}

void virtio_mmio_write(struct virtio_dev *d, uint64_t off, const void *data,
		       unsigned len)
{
	pthread_mutex_lock(&d->lock);
	if (off >= CONFIG) {
		if (d->ops->config_write)
			d->ops->config_write(d, (uint32_t)(off - CONFIG), data,
					     len);
	} else if (len == 4 && !(off & 3)) {
		uint32_t v;
		memcpy(&v, data, 4);
		reg_write(d, off, v);
	}
	pthread_mutex_unlock(&d->lock);
}
