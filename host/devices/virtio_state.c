/* virtio_state.c: a virtio device's transport state in and out of a
 * snapshot.
 *
 * What the transport knows is plain data: negotiated features, status,
 * interrupt bits and, per queue, where the rings are and how far both
 * sides got. Devices never hold a popped chain across I/O-loop turns
 * (every kick pops, serves and pushes), so with the vCPUs parked and the
 * device lock held this is the whole of the device's view of the rings;
 * the rest is in guest RAM. A snapshot file is untrusted input: load
 * checks every field against the device it is poured into before taking
 * any of it.
 */
#include <stdio.h>
#include <string.h>

#include "devices.h"

void virtio_dev_save(struct virtio_dev *d, struct virtio_state *s)
{
	memset(s, 0, sizeof(*s));
	s->device_id = d->device_id;
	s->nqueues = d->nqueues;
	s->host_features = d->host_features;
	s->driver_features = d->driver_features;
	s->host_features_sel = d->host_features_sel;
	s->driver_features_sel = d->driver_features_sel;
	s->queue_sel = d->queue_sel;
	s->status = d->status;
	s->interrupt_status = d->interrupt_status;
	s->config_generation = d->config_generation;
	for (unsigned i = 0; i < d->nqueues; i++) {
		const struct virtq *q = &d->vqs[i];
		s->q[i] = (struct virtio_qstate){
			.desc = q->desc_gpa, .avail = q->avail_gpa,
			.used = q->used_gpa, .size = q->size,
			.last_avail = q->last_avail, .used_idx = q->used_idx,
			.ready = q->ready, .broken = q->broken,
		};
	}
}

int virtio_dev_load(struct virtio_dev *d, const struct virtio_state *s,
		    char *err, size_t errlen)
{
	if (s->device_id != d->device_id || s->nqueues != d->nqueues) {
		snprintf(err, errlen, "device %s: the snapshot has device type "
			 "%u with %u queues here", d->name, s->device_id,
			 s->nqueues);
		return -1;
	}
	if (s->host_features != d->host_features ||
	    (s->driver_features & ~d->host_features)) {
		snprintf(err, errlen, "device %s: features %#llx/%#llx do not "
			 "match this build's %#llx", d->name,
			 (unsigned long long)s->host_features,
			 (unsigned long long)s->driver_features,
			 (unsigned long long)d->host_features);
		return -1;
	}
	if (s->status > 0xff || s->interrupt_status > 3) {
		snprintf(err, errlen, "device %s: bad status %#x/%#x", d->name,
			 s->status, s->interrupt_status);
		return -1;
	}
	for (unsigned i = 0; i < d->nqueues; i++) {
		const struct virtio_qstate *q = &s->q[i];
		if (q->ready > 1 || q->broken > 1 || q->size > VIRTQ_MAX_SIZE ||
		    (q->size & (q->size - 1)) || (q->ready && !q->size)) {
			snprintf(err, errlen, "device %s: queue %u has a bad "
				 "size %u or flags", d->name, i, q->size);
			return -1;
		}
	}
	for (unsigned i = d->nqueues; i < VIRTIO_MAX_QUEUES; i++) {
		if (s->q[i].ready || s->q[i].size) {
			snprintf(err, errlen, "device %s: queue %u does not "
				 "exist", d->name, i);
			return -1;
		}
	}
	d->driver_features = s->driver_features;
	d->host_features_sel = s->host_features_sel;
	d->driver_features_sel = s->driver_features_sel;
	d->queue_sel = s->queue_sel;
	d->status = s->status;
	d->interrupt_status = s->interrupt_status;
	d->config_generation = s->config_generation;
	for (unsigned i = 0; i < d->nqueues; i++) {
		const struct virtio_qstate *q = &s->q[i];
		d->vqs[i] = (struct virtq){
			.size = q->size, .ready = q->ready,
			.desc_gpa = q->desc, .avail_gpa = q->avail,
			.used_gpa = q->used, .last_avail = q->last_avail,
			.used_idx = q->used_idx, .broken = q->broken,
		};
	}
	return 0;
}
