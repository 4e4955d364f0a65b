# host/module.mk: the voidbox executable (static musl, blobs embedded).
HOST_SRCS := host/main.c \
             host/cli/cli.c host/cli/args.c host/cli/vmopts.c host/cli/cmd_version.c host/cli/cmd_vm.c \
             host/cli/cmd_exec.c host/cli/cmd_selftest.c host/cli/cmd_bench.c \
             host/cli/cmd_vmtest.c host/cli/cmd_validate.c host/cli/cmd_run.c host/cli/cmd_extract.c host/cli/cmd_inspect.c host/cli/cmd_cp.c host/cli/cmd_volume.c host/cli/cmd_image.c host/cli/cmd_snapshot.c host/cli/cmd_shell.c host/cli/cmd_attach.c host/cli/panel.c host/cli/events.c host/cli/cmd_serve.c host/cli/cmd_runs.c host/cli/selftest_snap.c host/snap/store.c host/snap/prune.c \
             host/spec/config.c host/spec/load.c host/net/policy.c host/net/dns.c host/net/dns_upstream.c host/net/frame.c \
             host/run/stage.c host/run/claude.c host/run/provision.c host/run/stream.c host/run/pipeline.c host/run/mock.c host/run/telemetry.c host/run/workflow.c host/run/warm.c host/run/waiting.c host/run/interactive.c \
             host/http/http.c host/http/tls.c host/http/client.c host/gateway/gateway.c \
             host/gateway/relay.c host/gateway/surface.c host/gateway/keyscan.c \
             host/gateway/reqbody.c host/gateway/budget.c \
             host/llm/providers.c \
             host/spec/doc.c host/spec/schema.c host/spec/rules.c host/spec/errors.c \
             host/box/box.c host/box/svc.c host/box/volume.c host/agent/conn.c host/agent/ops.c host/agent/resume.c host/agent/attach.c host/agent/holdctl.c host/agent/usock.c host/agent/pty.c \
             host/vmm/kvm.c host/vmm/memory.c host/vmm/boot.c host/vmm/mptable.c \
             host/vmm/cpu_x86_64.c host/vmm/serial.c host/vmm/pio.c host/vmm/vcpu.c \
             host/vmm/vm.c host/vmm/cpu_state.c host/vmm/snapfile.c host/vmm/snaprec.c host/vmm/snapshot.c host/vmm/ioloop.c host/vmm/virtio_bus.c host/vmm/vsock_host.c host/vmm/net_host.c \
             host/vmm/share_host.c host/fs/fsrv.c host/fs/fs_ops.c host/fs/fs_io.c host/fs/fs_dir.c host/fs/fs_node.c host/devices/virtiofs.c \
             host/devices/virtq.c host/devices/virtio_mmio.c host/devices/virtio_state.c host/devices/vsock.c \
             host/devices/rng.c host/devices/blk.c host/devices/blk_file.c host/devices/net.c host/vmm/ipc.c host/vmm/vmcfg.c host/vmm/sandbox.c host/vmm/vmm_main.c \
             host/image/erofs.c host/image/tar.c host/image/layer.c host/image/oci.c \
             host/image/store.c host/image/archive.c host/image/root.c host/image/use.c host/image/registry.c \
             host/util/log.c host/util/embed.c host/util/sha256.c host/util/trailer.c host/util/datadir.c host/util/term.c \
             host/history/db.c host/history/runs.c \
             host/serve/server.c host/serve/routes.c host/serve/runner.c host/serve/submit.c host/serve/sse.c host/serve/client.c
HOST_OBJS := $(HOST_SRCS:%.c=$(BUILD)/%.o)
HOST_LIBS := $(OTEL_LIBS) -lslirp -lglib-2.0 -lcjson -lyaml -lsqlite3 -lbearssl -lseccomp -lz -lzstd -lpthread
HOST_CFLAGS := $(MUSL_CFLAGS) $(OTEL_CFLAGS) -DVB_VERSION='"$(VERSION)"'

$(BUILD)/host/%.o: host/%.c $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) CC $<
	$(Q)$(MUSLCC) $(HOST_CFLAGS) -c $< -o $@

# The versions manifest embedded in the binary: our version, the kernel,
# and every pinned third-party input from the lock file.
$(BUILD)/versions.txt: third_party/versions.lock Makefile
	@mkdir -p $(@D)
	$(E) GEN $@
	$(Q){ echo "voidbox $(VERSION)"; \
	      awk '$$1=="src"||$$1=="deb" { print $$2, $$3 }' $< ; } > $@

SELFTEST_GUESTS := $(addprefix $(BUILD)/guests/,bootcheck.bzimage \
                   misbehave.bzimage vsock_echo.bzimage virtio_hostile.bzimage)
$(BUILD)/host/util/blobs.o: host/util/blobs.S $(BUILD)/.kernel-stamp \
                            $(INITRAMFS) $(BUILD)/versions.txt $(SELFTEST_GUESTS)
	@mkdir -p $(@D)
	$(E) AS $<
	$(Q)$(MUSLCC) -c $< -o $@ -DVB_KERNEL='"$(KERNEL)/bzImage"' \
		-DVB_INITRAMFS='"$(INITRAMFS)"' -DVB_VERSIONS='"$(BUILD)/versions.txt"' \
		$(foreach g,bootcheck misbehave vsock_echo virtio_hostile,\
		  -DVB_TG_$(shell echo $(g) | tr a-z A-Z)='"$(BUILD)/guests/$(g).bzimage"')

$(BUILD)/voidbox: $(HOST_OBJS) $(OTEL_OBJS) $(BUILD)/host/util/blobs.o
	$(E) LD $@
	$(Q)$(MUSLCC) $(MUSL_LDFLAGS) -o $@ $^ $(HOST_LIBS)

-include $(HOST_OBJS:.o=.d)

# The full single-file build: the executable with the claude-code tools
# image appended (release/append-tools.py; host/util/trailer.c reads it).
$(BUILD)/voidbox-full: $(BUILD)/voidbox $(TOOLS_DISK) release/append-tools.py
	$(E) EMBED $@
	$(Q)release/append-tools.py $(BUILD)/voidbox $(TOOLS_DISK) $@
