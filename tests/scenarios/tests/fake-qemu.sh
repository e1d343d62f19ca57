#!/bin/sh
# A fake `qemu-system-x86_64` that imitates the kernel's serial console per the
# conventions the scenarios rely on. It lets the harness, the scenarios and
# `xtask run`/`xtask test` be exercised end to end without the real kernel:
#   XTASK_QEMU=tests/scenarios/tests/fake-qemu.sh cargo xtask test --no-host
# Set FAKE_QEMU_BROKEN=1 to make `pci` answer nothing, a native extension's
# crash be recovered instead of stopping the kernel and rtc0 read 1970 (checks
# must then fail).
cmdline=""; e1000=0
while [ $# -gt 0 ]; do
    case "$1" in
        -append) cmdline="$2"; shift ;;
        e1000) e1000=1 ;;
    esac
    shift
done
printf '[    0.000100] INFO  boot: fake kernel, cmdline "%s"\r\n' "$cmdline"
case " $cmdline " in
*" ktest "*)
    skip=0; filter=""
    for t in $cmdline; do
        case "$t" in
            ktest.skip=*) skip=${t#ktest.skip=} ;;
            ktest.filter=*) filter=${t#ktest.filter=} ;;
        esac
    done
    list=""
    for t in fake::alpha fake::beta fake::gamma; do
        case "$t" in *"$filter"*) list="$list $t" ;; esac
    done
    n=0; for t in $list; do n=$((n+1)); done
    printf 'ktest: running %s tests\r\n' $((n > skip ? n - skip : 0))
    i=0; p=0
    for t in $list; do
        i=$((i+1)); [ $i -le $skip ] && continue
        printf 'ktest: start %s\r\ntest %s ... ok\r\n' "$t" "$t"; p=$((p+1))
    done
    printf '%s passed, 0 failed\r\n' $p
    exit 33 ;;
esac
# Extensions: crashtest's mode ("" = not loaded) and generation.
case " $cmdline " in
*" nim.autoload=0 "*) crashtest="" ;;
*) crashtest=isolated ;;
esac
generation=0
# The rtc driver: its generation; broken, its clock reads 1970.
rtc_generation=0
printf '[    0.002000] INFO  shell: reached shell prompt in 2 ms\r\n> '
while IFS= read -r line; do
    # Echo as the kernel does (each DEL/backspace as "\b \b"), then apply
    # the editing like its line editor.
    printf '%s\r\n' "$(printf '%s' "$line" | sed -e 's/[\x7f\x08]/\x08 \x08/g')"
    line=$(printf '%s' "$line" | sed -e ':a' -e 's/[^\x7f\x08][\x7f\x08]//' -e 'ta' -e 's/^[\x7f\x08]*//')
    case "$line" in
        help) for c in help pci mem threads uptime log shutdown crash; do
                  printf '  %-10s does %s\r\n' $c $c; done ;;
        pci)
            if [ -z "$FAKE_QEMU_BROKEN" ]; then
                printf '00:00.0 8086:1237 06.00 host bridge irq 0\r\n'
                printf '00:01.0 8086:7000 06.01 ISA bridge irq 0\r\n'
                if [ $e1000 = 1 ]; then
                    printf '00:03.0 8086:100e 02.00 ethernet irq 11\r\n'
                    printf '    BAR0 mem 0xfebc0000 size 0x20000\r\n    BAR1 io 0xc000 size 0x40\r\n'
                fi
            fi ;;
        mem) printf 'frames: 30000 free of 32000\r\nheap: 12 KiB used of 1024 KiB\r\n' ;;
        threads) printf '  ID  STATE    NAME\r\n   0  running  shell\r\n   1  ready    idle\r\n' ;;
        uptime) printf 'up 1.5 s\r\n' ;;
        "log "*) printf 'log level set to %s\r\n' "${line#log }" ;;
        shutdown) printf 'shutting down\r\n'; exit 33 ;;
        "crash write "*)
            printf 'EXCEPTION: page fault (#PF, vector 14) in kernel\r\n'
            printf '  error code: 0x2 (not-present | write | supervisor | data-access)\r\n'
            printf '  CR2 (fault address): 0x000000000dead000\r\n'
            printf '  RIP: 0xffffffff80001234  RSP: 0xffffffff80200000\r\n'
            printf 'kernel stopped\r\n'
            exit 37 ;;
        "ext list")
            if [ -z "$crashtest" ]; then
                printf 'no extensions (bundled: crashtest, template)\r\n'
            else
                printf 'NAME             MODE      STATE       GENERATION  RESTARTS  FAULTS  OBJECTS  POLICY\r\n'
                printf '%-16s %-9s %-11s %10s  %8s  %6s  %7s  %s\r\n' crashtest "$crashtest" running \
                    $generation $generation $generation 0 always
                printf '%-16s %-9s %-11s %10s  %8s  %6s  %7s  %s\r\n' rtc isolated running \
                    $rtc_generation $rtc_generation $rtc_generation 2 always
            fi ;;
        devices)
            printf 'NAME         CLASS      OPEN\r\nserial0      character  1\r\n'
            printf 'rtc0         character  0\r\n' ;;
        "devices read rtc0")
            if [ -z "$FAKE_QEMU_BROKEN" ]; then
                date -u '+%Y-%m-%d %H:%M:%S' | tr -d '\n'
            else
                printf '1970-01-01 00:00:00'
            fi
            printf '\r\n(20 bytes)\r\n' ;;
        "devices control rtc0 1")
            now=$(date -u +%s)
            printf 'rtc0: control 1: %s (0x%x)\r\n' "$now" "$now" ;;
        "ext crash rtc null-deref")
            rtc_generation=$((rtc_generation + 1))
            printf 'rtc: page-fault (recovered in 1500 us); now running as generation %s\r\n' $rtc_generation ;;
        "ext faults rtc")
            if [ $rtc_generation = 0 ]; then
                printf 'rtc: no faults\r\n'
            else
                printf 'rtc: extension 1 generation 0: page-fault at rip 0x1561d3 (address 0x0) at 51 ms, recovered in 1500 us\r\n'
            fi ;;
        "ext load crashtest native")
            if [ -n "$crashtest" ]; then
                printf 'ext: `crashtest` is already loaded\r\n'
            else
                crashtest=native; printf 'loaded (native)\r\n'
            fi ;;
        "ext crash crashtest "*)
            kind=${line#ext crash crashtest }
            if [ "$crashtest" = native ] && [ -z "$FAKE_QEMU_BROKEN" ]; then
                case "$kind" in
                    invalid-opcode)
                        printf '\r\nEXCEPTION: invalid opcode (#UD, vector 6) in kernel thread `shell` (id 1)\r\n' ;;
                    null-deref)
                        printf '\r\nEXCEPTION: page fault (#PF, vector 14) in kernel thread `shell` (id 1)\r\n'
                        printf '  error code: 0x0 (not-present | read | supervisor | data-access)\r\n' ;;
                    *)
                        printf '\r\nEXCEPTION: page fault (#PF, vector 14) in kernel thread `shell` (id 1)\r\n'
                        printf '  error code: 0x3 (protection-violation | write | supervisor | data-access)\r\n' ;;
                esac
                printf '  RIP: 0xffffc00000003603  RSP: 0x00000000001822e0\r\nkernel stopped\r\n'
                exit 37
            elif [ -n "$crashtest" ]; then
                generation=$((generation + 1))
                printf 'crashtest: page-fault (recovered in 1500 us); now running as generation %s\r\n' $generation
            else
                printf 'ext: no extension named `crashtest` is loaded (see `ext list`)\r\n'
            fi ;;
        "") ;;
        *) printf "unknown command '%s' (type 'help')\r\n" "$line" ;;
    esac
    printf '> '
done
exec sleep 600
