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

/// A character device that hands back what was written to it.
struct Loopback(crate::sched::sync::IrqSpinlock<alloc::vec::Vec<u8>>);

impl device_table::Device for Loopback {
    fn class(&self) -> DeviceClass {
        DeviceClass::Character
    }
    fn read(&self, buffer: &mut [u8]) -> Result<usize, device_table::DeviceError> {
        let mut data = self.0.lock();
        let count = buffer.len().min(data.len());
        buffer[..count].copy_from_slice(&data[..count]);
        data.drain(..count);
        Ok(count)
    }
    fn write(&self, data: &[u8]) -> Result<usize, device_table::DeviceError> {
        self.0.lock().extend_from_slice(data);
        Ok(data.len())
    }
}

kernel_test!(registered_device_is_reachable_by_name {
    let id = devices::register("loop", alloc::sync::Arc::new(Loopback(crate::sched::sync::IrqSpinlock::new(alloc::vec::Vec::new()))))
        .map_err(|e| alloc::format!("register: {e}"))?;
    let name = devices::list().into_iter().find(|d| d.id == id).map(|d| d.name).ok_or("registered device not listed")?;
    ensure!(name.starts_with("loop"), "device named {name}");
    let (opened, device) = devices::open(&name).map_err(|e| alloc::format!("open: {e}"))?;
    ensure!(opened == id, "open returned another id");
    device.write(b"ping").map_err(|e| alloc::format!("write: {e}"))?;
    let mut buffer = [0u8; 8];
    let count = device.read(&mut buffer).map_err(|e| alloc::format!("read: {e}"))?;
    ensure!(&buffer[..count] == b"ping", "read back {:?}", &buffer[..count]);
    devices::close(id).map_err(|e| alloc::format!("close: {e}"))?;
    Ok(())
});
