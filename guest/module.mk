# guest/module.mk: the guest agent, a static musl executable (PID 1).
AGENT_SRCS := guest/agent/main.c guest/agent/mounts.c guest/agent/cmdline.c \
              guest/agent/log.c guest/agent/power.c guest/agent/netup.c \
              guest/agent/buf.c guest/agent/ev.c guest/agent/listen.c \
              guest/agent/conn.c guest/agent/policy.c guest/agent/spawn.c \
              guest/agent/exec.c guest/agent/roots.c guest/agent/files.c \
              guest/agent/telemetry.c guest/agent/tools.c guest/agent/toolbox.c \
              guest/agent/imageroot.c guest/agent/resume.c \
              guest/agent/shares.c \
              guest/agent/relay.c
AGENT_OBJS := $(AGENT_SRCS:%.c=$(BUILD)/%.o)

$(BUILD)/guest/%.o: guest/%.c $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) CC $<
	$(Q)$(MUSLCC) $(MUSL_CFLAGS) -Os -Iguest/agent -c $< -o $@

$(BUILD)/voidbox-agent: $(AGENT_OBJS)
	$(E) LD $@
	$(Q)$(MUSLCC) $(MUSL_LDFLAGS) -s -o $@ $^

-include $(AGENT_OBJS:.o=.d)
