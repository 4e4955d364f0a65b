# host/otel/module.mk: the OTLP export library (host/otel/) and its
# generated protobuf code, linked into voidbox and libvoidbox. Included
# by the top-level Makefile before host/module.mk (which links OTEL_OBJS).
#
#   OTEL_SRCS       host/otel/*.c and the generated $(BUILD)/gen/otlp/*.pb-c.c
#   OTEL_GEN_STAMP  runs protoc-c; everything compiling OTEL_SRCS needs it
#   OTEL_CFLAGS     -I$(BUILD)/gen, for the generated "otlp/x.pb-c.h"
#   OTEL_LIBS       -lprotobuf-c
#   OTEL_OBJS       OTEL_SRCS compiled under $(BUILD)/otel/obj/
# Generated code is never committed: protoc-c (Debian protobuf-c-compiler,
# installed by `make bootstrap`) writes it at build time, and its version
# matches the protobuf-c runtime in the sysroot (third_party/versions.lock).

OTEL_PROTOS := $(addprefix proto/otlp/,common.proto resource.proto \
               trace.proto metrics.proto logs.proto trace_service.proto \
               metrics_service.proto logs_service.proto)
OTEL_GEN_DIR := $(BUILD)/gen/otlp
OTEL_GEN_SRCS := $(patsubst proto/otlp/%.proto,$(OTEL_GEN_DIR)/%.pb-c.c,$(OTEL_PROTOS))
OTEL_GEN_HDRS := $(OTEL_GEN_SRCS:.c=.h)
OTEL_GEN_STAMP := $(BUILD)/gen/.otlp-stamp
OTEL_SRCS := host/otel/model.c host/otel/encode.c host/otel/transport.c \
             host/otel/export.c $(OTEL_GEN_SRCS)
OTEL_CFLAGS := -I$(BUILD)/gen
OTEL_LIBS := -lprotobuf-c
OTEL_OBJS := $(patsubst host/%.c,$(BUILD)/otel/obj/host/%.o,$(filter host/%,$(OTEL_SRCS))) \
             $(patsubst $(OTEL_GEN_DIR)/%.c,$(BUILD)/otel/obj/gen/%.o,$(OTEL_GEN_SRCS))

# One protoc-c run writes every .pb-c.[ch]; the stamp stands for them all.
# It takes its time from before the run (touch, then mv), so the outputs
# are never older than it and make -n does not see them as stale.
# -Iproto: the files import each other as "otlp/x.proto", so the headers
# include "otlp/x.pb-c.h", found through -I$(BUILD)/gen.
$(OTEL_GEN_STAMP): $(OTEL_PROTOS)
	@command -v protoc-c >/dev/null || { echo "protoc-c not found:" \
		"run make bootstrap (Debian package protobuf-c-compiler)" >&2; exit 1; }
	@mkdir -p $(OTEL_GEN_DIR)
	@touch $@.new
	$(E) PROTOC-C $(OTEL_GEN_DIR)
	$(Q)protoc-c --c_out=$(BUILD)/gen -Iproto $(OTEL_PROTOS)
	@mv $@.new $@
$(OTEL_GEN_SRCS) $(OTEL_GEN_HDRS): $(OTEL_GEN_STAMP) ;

$(BUILD)/otel/obj/host/%.o: host/%.c $(OTEL_GEN_STAMP) $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) CC $<
	$(Q)$(MUSLCC) $(MUSL_CFLAGS) $(OTEL_CFLAGS) -c $< -o $@
$(BUILD)/otel/obj/gen/%.o: $(OTEL_GEN_DIR)/%.c $(OTEL_GEN_STAMP) $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) CC $<
	$(Q)$(MUSLCC) $(MUSL_CFLAGS) $(OTEL_CFLAGS) -c $< -o $@

