//! The items every generated interface shares: typed handles (one type per
//! object kind, whichever interface names it) and the operation tables'
//! entry types. Each generated `NAME_common.rs` re-exports the ones it uses.

/// What an interface file declares about one operation (the generated
/// `SERVICES` and `ENTRIES` tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperationInfo {
    /// Its stable number.
    pub number: u64,
    /// Its name in the interface file.
    pub name: &'static str,
    /// Is it safe to call again after the extension restarts?
    pub idempotent: bool,
    /// The largest request, in bytes.
    pub max_request_bytes: usize,
    /// The largest reply, in bytes.
    pub max_reply_bytes: usize,
    /// Its arguments, in declaration order.
    pub arguments: &'static [ArgumentInfo],
}

/// What an interface file declares about one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgumentInfo {
    /// Its name in the interface file.
    pub name: &'static str,
    /// `in`, `out` or `inout`.
    pub direction: &'static str,
    /// Its type as written in the interface file.
    pub wire_type: &'static str,
    /// For a buffer: who owns it after the call (`copied-in`, `copied-out`,
    /// `borrowed` or `transferred`).
    pub ownership: Option<&'static str>,
}

macro_rules! handles {
    ($($(#[$doc:meta])* $name:ident = $code:literal;)*) => {
        $(
            $(#[$doc])*
            ///
            /// Only its bits cross: the kernel checks that the handle is live,
            /// of this kind and of the caller's current generation.
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
            pub struct $name(pub u64);

            impl $name {
                /// The object tracker's `ObjectKind` code this handle is
                /// issued for.
                pub const KIND_CODE: u8 = $code;
            }
        )*
    };
}

handles! {
    /// A handle to a `memory` object (the object tracker's `memory`).
    MemoryHandle = 0;
    /// A handle to a `dma-buffer` object (the object tracker's `dma-buffer`).
    DmaBufferHandle = 1;
    /// A handle to an `io-ports` object (the object tracker's `io-port-range`).
    IoPortsHandle = 2;
    /// A handle to an `mmio` object (the object tracker's `mmio-region`).
    MmioHandle = 3;
    /// A handle to an `interrupt` object (the object tracker's `irq-registration`).
    InterruptHandle = 4;
    /// A handle to a `timer` object (the object tracker's `timer`).
    TimerHandle = 5;
    /// A handle to a `device` object (the object tracker's `device-registration`).
    DeviceHandle = 6;
    /// A handle to a `deferred-call` object (the object tracker's `deferred-call`).
    DeferredCallHandle = 7;
    /// A handle to a `packet` object (the object tracker's `packet-buffer`).
    PacketHandle = 8;
    /// A handle to a `block-request` object (the object tracker's `block-request`).
    BlockRequestHandle = 9;
    /// A handle to a `pci-device` object (the object tracker's `pci-device`).
    PciDeviceHandle = 10;
    /// A handle to a `socket` object (the object tracker's `socket`).
    SocketHandle = 11;
}
