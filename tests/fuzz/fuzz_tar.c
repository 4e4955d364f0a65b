/* fuzz_tar.c: image layers (host/image/layer.c, tar.c) into the EROFS
 * writer (erofs.c): any byte string as a layer blob (gzip or plain tar),
 * then the image finished. A registry or archive layer is hostile input. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../host/image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	int in = memfd_create("layer", MFD_CLOEXEC), out = memfd_create("img", MFD_CLOEXEC);
	uint64_t total = 0;

	if (in < 0 || out < 0 || write(in, data, size) != (ssize_t)size)
		return 0;
	struct erofs_w *w = erofs_open(out, err, sizeof(err));
	if (w) {
		erofs_layer(w, 0);
		if (layer_apply(w, in, &total, 64u << 20, err, sizeof(err)) == 0) {
			erofs_layer(w, 1);
			lseek(in, 0, SEEK_SET);	/* the same layer again, over itself */
			if (layer_apply(w, in, &total, 64u << 20, err, sizeof(err)) == 0) {
				erofs_finish(w, NULL, err, sizeof(err));
				w = NULL;
			}
		}
		if (w)
			erofs_abort(w);
	}
	close(in);
	close(out);
	return 0;
}
