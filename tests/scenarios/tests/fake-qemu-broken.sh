#!/bin/sh
# fake-qemu.sh whose `pci` answers nothing: scenarios that check `pci` must fail.
FAKE_QEMU_BROKEN=1 exec "$(dirname "$0")/fake-qemu.sh" "$@"
