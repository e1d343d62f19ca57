//! PCI, the device table and the console.

use crate::{devices, ensure, kernel_test, pci};
use device_table::DeviceClass;

kernel_test!(pci_finds_the_host_bridge {
    let bridge = pci::devices().iter().find(|f| f.class == 0x06 && f.subclass == 0x00).ok_or("no host bridge found")?;
    ensure!(bridge.address.bus == 0 && bridge.address.device == 0, "host bridge at {}", bridge.address);
    ensure!(bridge.vendor_id == 0x8086 && bridge.device_id == 0x1237, "host bridge is {:04x}:{:04x}, expected i440FX 8086:1237", bridge.vendor_id, bridge.device_id);
    Ok(())
});

kernel_test!(pci_sizes_the_vga_frame_buffer_bar {
    // QEMU's `pc` machine always has its standard VGA at 00:02.0 with a
    // prefetchable memory BAR0 of 16 MiB or more.
    let vga = pci::find(0x1234, 0x1111).ok_or("no QEMU VGA (1234:1111)")?;
    match vga.bar(0) {
        Some(pci_config::Bar::Memory { size, .. }) => ensure!(size >= 16 * 1024 * 1024 && size.is_power_of_two(), "BAR0 size {size:#x}"),
        other => return Err(alloc::format!("VGA BAR0 is {other:?}")),
    }
    Ok(())
});

kernel_test!(serial_console_is_the_first_character_device {
    let list = devices::list();
    let first = list.first().ok_or("device table empty")?;
    ensure!(first.name == "serial0", "first device is {}", first.name);
    ensure!(first.class == DeviceClass::Character, "serial0 is {:?}", first.class);
    let (id, device) = devices::open("serial0").map_err(|e| alloc::format!("open: {e}"))?;
    let written = device.write(b"").map_err(|e| alloc::format!("write: {e}"))?;
    ensure!(written == 0, "empty write wrote {written}");
    devices::close(id).map_err(|e| alloc::format!("close: {e}"))?;
    ensure!(devices::open("nonexistent").is_err(), "opening a missing device succeeded");
    Ok(())
});
