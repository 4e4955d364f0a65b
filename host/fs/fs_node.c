/* fs_node.c: the node ids and file handles the guest holds.
 *
 * Both are slot tables that grow by doubling up to their bound. An id is
 * (generation << 32) | (slot + 1): a stale or forged id from the guest
 * names a free slot or the wrong generation and is refused, never
 * dereferenced. Nodes are also found by (st_dev, st_ino), so one host
 * inode is one node id however many names lead to it (hard links must
 * look like one file to the guest). A node keeps its O_PATH descriptor,
 * which also keeps its inode number from being reused while we know it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

#define FS_HASH 32768	/* buckets (128 KiB): chains of <= 8 at the bound */

static unsigned hash_of(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;
	return (unsigned)(h >> 40) % FS_HASH;
}

static int grow(void **arr, unsigned *cap, unsigned max, size_t elem)
{
	unsigned ncap = *cap ? *cap * 2 : 64;

	if (ncap > max)
		ncap = max;
	if (ncap <= *cap)
		return -ENFILE;
	void *p = realloc(*arr, (size_t)ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* A free slot index (reused or new), or -errno. */
static int take_slot(struct fs_table *t)
{
	if (t->free_head >= 0) {
		int32_t i = t->free_head;
		t->free_head = t->nodes[i].hnext;
		return i;
	}
	if (t->n == t->cap) {
		int r = grow((void **)&t->nodes, &t->cap, t->max,
			     sizeof(*t->nodes));
		if (r < 0)
			return r;
	}
	return (int)t->n++;
}

static uint64_t make_id(uint32_t gen, unsigned slot)
{
	return (uint64_t)gen << 32 | (uint64_t)(slot + 1);
}

int fs_table_init(struct fs_table *t, int root_fd, const struct stat *st,
		  unsigned max)
{
	memset(t, 0, sizeof(*t));
	t->free_head = -1;
	t->max = max ? max : FSRV_MAX_INODES;
	t->next_gen = 1;
	t->hash = malloc(FS_HASH * sizeof(*t->hash));
	if (!t->hash) {
		close(root_fd);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < FS_HASH; i++)
		t->hash[i] = -1;
	uint64_t id;
	/* The root is slot 0 with generation 0 would be id 1 = FUSE_ROOT_ID:
	 * give it that id exactly. */
	int r = fs_node_ref(t, root_fd, st, &id);
	if (r < 0)
		return r;
	t->nodes[0].gen = 0;
	t->nodes[0].nlookup = UINT64_MAX / 2;	/* never forgotten */
	return 0;
}

void fs_table_free(struct fs_table *t)
{
	for (unsigned i = 0; t->nodes && i < t->n; i++)
		if (t->nodes[i].fd >= 0)
			close(t->nodes[i].fd);
	free(t->nodes);
	free(t->hash);
	memset(t, 0, sizeof(*t));
}

struct fs_node *fs_node_get(struct fs_table *t, uint64_t id)
{
	uint64_t slot = (id & 0xffffffffu) - 1;
	uint32_t gen = (uint32_t)(id >> 32);

	if ((id & 0xffffffffu) == 0 || slot >= t->n)
		return NULL;
	struct fs_node *nd = &t->nodes[slot];
	if (nd->fd < 0 || nd->gen != gen)
		return NULL;
	return nd;
}

int fs_node_ref(struct fs_table *t, int fd, const struct stat *st,
		uint64_t *id)
{
	unsigned b = hash_of(st->st_dev, st->st_ino);

	for (int32_t i = t->hash[b]; i >= 0; i = t->nodes[i].hnext) {
		struct fs_node *nd = &t->nodes[i];
		if (nd->dev == st->st_dev && nd->ino == st->st_ino) {
			close(fd);
			nd->nlookup++;
			*id = make_id(nd->gen, (unsigned)i);
			return 0;
		}
	}
	int slot = t->live < t->max ? take_slot(t) : -ENFILE;
	if (slot < 0) {
		close(fd);
		return slot;
	}
	struct fs_node *nd = &t->nodes[slot];
	uint32_t gen = t->next_gen++;
	if (!t->next_gen)	/* 0 means free */
		t->next_gen = 1;
	*nd = (struct fs_node){ .gen = gen, .fd = fd, .dev = st->st_dev,
				.ino = st->st_ino,
				.type = st->st_mode & S_IFMT, .nlookup = 1,
				.hnext = t->hash[b] };
	t->hash[b] = slot;
	t->live++;
	*id = make_id(gen, (unsigned)slot);
	return 0;
}

void fs_node_forget(struct fs_table *t, uint64_t id, uint64_t n)
{
	struct fs_node *nd = fs_node_get(t, id);

	if (!nd || id == FS_ROOT_ID)
		return;
	nd->nlookup = n < nd->nlookup ? nd->nlookup - n : 0;
	if (nd->nlookup)
		return;
	int32_t slot = (int32_t)(nd - t->nodes);
	int32_t *pp = &t->hash[hash_of(nd->dev, nd->ino)];
	while (*pp >= 0 && *pp != slot)
		pp = &t->nodes[*pp].hnext;
	if (*pp == slot)
		*pp = nd->hnext;
	close(nd->fd);
	nd->fd = -1;
	nd->gen = 0;
	nd->hnext = t->free_head;
	t->free_head = slot;
	t->live--;
}

int fs_handles_init(struct fs_handles *hs, unsigned max, size_t dir_max)
{
	memset(hs, 0, sizeof(*hs));
	hs->max = max ? max : FSRV_MAX_HANDLES;
	hs->dir_max = dir_max ? dir_max : FSRV_MAX_DIRLIST;
	hs->next_gen = 1;
	hs->free_head = -1;
	return 0;
}

void fs_handles_free(struct fs_handles *hs)
{
	for (unsigned i = 0; hs->h && i < hs->n; i++)
		if (hs->h[i].gen) {
			close(hs->h[i].fd);
			fs_dir_free(hs, hs->h[i].dir);
		}
	free(hs->h);
	memset(hs, 0, sizeof(*hs));
}

int fs_handle_add(struct fs_handles *hs, int fd, uint64_t *fh)
{
	int32_t slot;

	if (hs->live >= hs->max) {
		close(fd);
		return -ENFILE;
	}
	if (hs->free_head >= 0) {
		slot = hs->free_head;
		hs->free_head = hs->h[slot].next_free;
	} else {
		if (hs->n == hs->cap) {
			int r = grow((void **)&hs->h, &hs->cap, hs->max,
				     sizeof(*hs->h));
			if (r < 0) {
				close(fd);
				return r;
			}
		}
		slot = (int32_t)hs->n++;
	}
	uint32_t gen = hs->next_gen++;
	if (!hs->next_gen)
		hs->next_gen = 1;
	hs->h[slot] = (struct fs_handle){ .gen = gen, .fd = fd,
					  .next_free = -1 };
	hs->live++;
	*fh = make_id(gen, (unsigned)slot);
	return 0;
}

struct fs_handle *fs_handle_get(struct fs_handles *hs, uint64_t fh)
{
	uint64_t slot = (fh & 0xffffffffu) - 1;

	if ((fh & 0xffffffffu) == 0 || slot >= hs->n)
		return NULL;
	struct fs_handle *h = &hs->h[slot];
	return h->gen && h->gen == (uint32_t)(fh >> 32) ? h : NULL;
}

int fs_handle_fd(struct fs_handles *hs, uint64_t fh)
{
	struct fs_handle *h = fs_handle_get(hs, fh);

	return h ? h->fd : -1;
}

int fs_handle_close(struct fs_handles *hs, uint64_t fh)
{
	struct fs_handle *h = fs_handle_get(hs, fh);

	if (!h)
		return -EBADF;
	close(h->fd);
	fs_dir_free(hs, h->dir);
	*h = (struct fs_handle){ .fd = -1 };
	h->next_free = hs->free_head;
	hs->free_head = (int32_t)(h - hs->h);
	hs->live--;
	return 0;
}
