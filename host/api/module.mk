# host/api/module.mk: the public C API — $(BUILD)/libvoidbox.a, its header
# installed as $(BUILD)/include/voidbox.h, and the examples linked
# against both, exactly as an outside program would be.
#
# Included after host/module.mk: it extends $(BUILD)/voidbox (the CLI's
# `run` is an API client) and reuses HOST_OBJS, HOST_LIBS and the
# $(BUILD)/host/%.o rule.
API_SRCS := host/api/api.c host/api/box.c host/api/result.c host/api/report.c host/api/snapshot.c
API_OBJS := $(API_SRCS:%.c=$(BUILD)/%.o)

# A recipe-less rule adds prerequisites; the link recipe's $^ sees them.
$(BUILD)/voidbox: $(API_OBJS)

# Everything but the CLI: main() and host/cli/ belong to the voidbox
# executable. blobs.o carries the guest kernel and initramfs, and the
# VMM role (vmm_main, reached through vb_main_hook) comes along.
LIBVOIDBOX_OBJS := $(filter-out $(BUILD)/host/main.o $(BUILD)/host/cli/%,\
                     $(HOST_OBJS)) $(BUILD)/host/util/blobs.o $(API_OBJS) \
                     $(OTEL_OBJS)

$(BUILD)/libvoidbox.a: $(LIBVOIDBOX_OBJS)
	$(E) AR $@
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/include/voidbox.h: host/api/voidbox.h
	@mkdir -p $(@D)
	$(E) INSTALL $@
	$(Q)cp $< $@

# Examples see only the installed header (-I$(BUILD)/include), never
# the source tree, so a leak of an internal type fails to build here.
API_EXAMPLES := $(addprefix $(BUILD)/examples/,quick_demo trading_pipeline warm_snapshot \
                  parallel_pipeline)

$(API_EXAMPLES:=.o): $(BUILD)/examples/%.o: host/api/examples/%.c \
                     $(BUILD)/include/voidbox.h $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) CC $<
	$(Q)$(MUSLCC) $(MUSL_CFLAGS) -I$(BUILD)/include -c $< -o $@

$(API_EXAMPLES): $(BUILD)/examples/%: $(BUILD)/examples/%.o \
                 $(BUILD)/libvoidbox.a
	$(E) LD $@
	$(Q)$(MUSLCC) $(MUSL_LDFLAGS) -o $@ $< $(BUILD)/libvoidbox.a $(HOST_LIBS)

# trading_pipeline's file skills, next to the executables (example.h
# looks there by default).
API_SKILLS := $(addprefix $(BUILD)/examples/skills/,financial-data-analysis.md \
                quant-technical-analysis.md market-research.md \
                portfolio-risk-management.md)
$(API_SKILLS): $(BUILD)/examples/skills/%: host/api/examples/skills/%
	@mkdir -p $(@D)
	$(E) CP $@
	$(Q)cp $< $@

.PHONY: libvoidbox examples
libvoidbox: $(BUILD)/libvoidbox.a $(BUILD)/include/voidbox.h
examples: $(API_EXAMPLES) $(API_SKILLS)
all: libvoidbox examples

-include $(API_OBJS:.o=.d) $(API_EXAMPLES:=.d)
