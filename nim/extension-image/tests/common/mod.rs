//! A byte-level ELF64 builder for tests: lays out an image the way lld lays
//! out a static PIE for `x86_64-unknown-none`, with named offsets so tests
//! can corrupt one field at a time.
#![allow(dead_code)]

/// The shared deterministic test generator, with `usize` bounds.
pub struct Xorshift(pub u64);

impl Xorshift {
    pub fn next(&mut self) -> u64 {
        let mut generator = deterministic_rng::XorShift(self.0);
        let value = generator.next();
        self.0 = generator.0;
        value
    }

    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

pub const PT_LOAD: u32 = 1;
pub const PT_DYNAMIC: u32 = 2;
pub const PT_GNU_STACK: u32 = 0x6474_e551;
pub const PT_GNU_RELRO: u32 = 0x6474_e552;
pub const R: u32 = 4;
pub const W: u32 = 2;
pub const X: u32 = 1;

/// Program header indices of the standard image.
pub const PH_READ_ONLY: usize = 0;
pub const PH_CODE: usize = 1;
pub const PH_RELRO_DATA: usize = 2;
pub const PH_DATA: usize = 3;
pub const PH_DYNAMIC: usize = 4;
pub const PH_RELRO: usize = 5;
pub const PH_STACK: usize = 6;
pub const PROGRAM_HEADER_COUNT: usize = 7;

/// File offsets of the standard image's tables.
pub const RELA_FILE_OFFSET: usize = 0x300;
pub const RELA_ADDRESS: u64 = 0x300;
pub const DYNAMIC_FILE_OFFSET: usize = 0x500;
pub const DYNAMIC_ADDRESS: u64 = 0x2500;
pub const SYMTAB_FILE_OFFSET: usize = 0x680;
pub const STRTAB_FILE_OFFSET: usize = 0x6d0;
pub const SECTION_HEADERS_FILE_OFFSET: usize = 0x700;
pub const IMAGE_LENGTH: usize = 0x700 + 3 * 64;

pub const ENTRY: u64 = 0x1400;
pub const MEMORY_SPAN: u64 = 0x4000;
/// (target offset, addend) of the standard relocations.
pub const RELOCATIONS: [(u64, i64); 3] = [(0x2580, 0x1400), (0x2588, 0x2500), (0x3608, 0x3610)];

/// Program header fields, by byte offset inside an entry.
#[derive(Clone, Copy, Debug)]
pub enum Field {
    Type = 0,
    Flags = 4,
    Offset = 8,
    VirtualAddress = 16,
    PhysicalAddress = 24,
    FileSize = 32,
    MemorySize = 40,
    Alignment = 48,
}

pub struct Image {
    pub bytes: Vec<u8>,
}

impl Image {
    pub fn put_u16(&mut self, at: usize, value: u16) {
        self.bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
    }
    pub fn put_u32(&mut self, at: usize, value: u32) {
        self.bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }
    pub fn put_u64(&mut self, at: usize, value: u64) {
        self.bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }
    pub fn get_u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().unwrap())
    }

    pub fn program_header_at(index: usize) -> usize {
        64 + 56 * index
    }

    /// Set one field of program header `index`.
    pub fn set(&mut self, index: usize, field: Field, value: u64) {
        let at = Self::program_header_at(index) + field as usize;
        match field {
            Field::Type | Field::Flags => self.put_u32(at, value as u32),
            _ => self.put_u64(at, value),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn program_header(
        &mut self,
        index: usize,
        kind: u32,
        flags: u32,
        offset: u64,
        address: u64,
        file_size: u64,
        memory_size: u64,
        alignment: u64,
    ) {
        self.set(index, Field::Type, u64::from(kind));
        self.set(index, Field::Flags, u64::from(flags));
        self.set(index, Field::Offset, offset);
        self.set(index, Field::VirtualAddress, address);
        self.set(index, Field::PhysicalAddress, address);
        self.set(index, Field::FileSize, file_size);
        self.set(index, Field::MemorySize, memory_size);
        self.set(index, Field::Alignment, alignment);
    }

    /// Set dynamic entry `index` (tag, value).
    pub fn dynamic(&mut self, index: usize, tag: u64, value: u64) {
        let at = DYNAMIC_FILE_OFFSET + 16 * index;
        self.put_u64(at, tag);
        self.put_u64(at + 8, value);
    }

    /// Set relocation `index` (offset, info, addend).
    pub fn relocation(&mut self, index: usize, offset: u64, info: u64, addend: i64) {
        let at = RELA_FILE_OFFSET + 24 * index;
        self.put_u64(at, offset);
        self.put_u64(at + 8, info);
        self.put_u64(at + 16, addend as u64);
    }
}

/// The standard valid image:
///
/// | segment | rights | file          | memory          |
/// |---------|--------|---------------|-----------------|
/// | 0 LOAD  | R      | 0x000..0x400  | 0x0000..0x0400  | headers, .rela.dyn at 0x300
/// | 1 LOAD  | RX     | 0x400..0x500  | 0x1400..0x1500  | code, entry 0x1400
/// | 2 LOAD  | RW     | 0x500..0x600  | 0x2500..0x3000  | .dynamic, relocated pointers (RELRO)
/// | 3 LOAD  | RW     | 0x600..0x620  | 0x3600..0x3700  | .data + .bss
///
/// plus PT_DYNAMIC, PT_GNU_RELRO (0x2500..0x3000), PT_GNU_STACK (RW), and a
/// section table with .symtab (symbols `extension_entry` = 0x1400 and
/// `data_table` = 0x3600) and .strtab.
pub fn valid_image() -> Image {
    let mut image = Image {
        bytes: vec![0; IMAGE_LENGTH],
    };
    image.bytes[..4].copy_from_slice(b"\x7fELF");
    image.bytes[4] = 2; // ELFCLASS64
    image.bytes[5] = 1; // little endian
    image.bytes[6] = 1; // EV_CURRENT
    image.put_u16(16, 3); // ET_DYN
    image.put_u16(18, 62); // EM_X86_64
    image.put_u32(20, 1);
    image.put_u64(24, ENTRY);
    image.put_u64(32, 64); // e_phoff
    image.put_u64(40, SECTION_HEADERS_FILE_OFFSET as u64);
    image.put_u16(52, 64);
    image.put_u16(54, 56);
    image.put_u16(56, PROGRAM_HEADER_COUNT as u16);
    image.put_u16(58, 64);
    image.put_u16(60, 3);
    image.put_u16(62, 0);

    image.program_header(PH_READ_ONLY, PT_LOAD, R, 0, 0, 0x400, 0x400, 0x1000);
    image.program_header(PH_CODE, PT_LOAD, R | X, 0x400, 0x1400, 0x100, 0x100, 0x1000);
    image.program_header(
        PH_RELRO_DATA,
        PT_LOAD,
        R | W,
        0x500,
        0x2500,
        0x100,
        0xb00,
        0x1000,
    );
    image.program_header(PH_DATA, PT_LOAD, R | W, 0x600, 0x3600, 0x20, 0x100, 0x1000);
    image.program_header(PH_DYNAMIC, PT_DYNAMIC, R | W, 0x500, 0x2500, 0x60, 0x60, 8);
    image.program_header(PH_RELRO, PT_GNU_RELRO, R, 0x500, 0x2500, 0x100, 0xb00, 1);
    image.program_header(PH_STACK, PT_GNU_STACK, R | W, 0, 0, 0, 0, 0);

    for (index, (offset, addend)) in RELOCATIONS.iter().enumerate() {
        image.relocation(index, *offset, 8, *addend);
    }
    image.dynamic(0, 7, RELA_ADDRESS); // DT_RELA
    image.dynamic(1, 8, 24 * RELOCATIONS.len() as u64); // DT_RELASZ
    image.dynamic(2, 9, 24); // DT_RELAENT
    image.dynamic(3, 0x6fff_fff9, RELOCATIONS.len() as u64); // DT_RELACOUNT
    image.dynamic(4, 0x6fff_fffb, 0x0800_0001); // DT_FLAGS_1: NOW | PIE
    image.dynamic(5, 0, 0); // DT_NULL

    // Code: a few recognisable bytes; data: a marker.
    image.bytes[0x400..0x404].copy_from_slice(&[0xf3, 0x0f, 0x1e, 0xfa]);
    image.bytes[0x600..0x608].copy_from_slice(b"DATAMARK");

    // Symbols: null, extension_entry, data_table.
    let names = b"\0extension_entry\0data_table\0";
    image.bytes[STRTAB_FILE_OFFSET..STRTAB_FILE_OFFSET + names.len()].copy_from_slice(names);
    let symbol = |image: &mut Image, index: usize, name: u32, info: u8, value: u64| {
        let at = SYMTAB_FILE_OFFSET + 24 * index;
        image.put_u32(at, name);
        image.bytes[at + 4] = info;
        image.put_u16(at + 6, 1);
        image.put_u64(at + 8, value);
    };
    symbol(&mut image, 1, 1, 0x12, 0x1400); // GLOBAL FUNC
    symbol(&mut image, 2, 17, 0x11, 0x3600); // GLOBAL OBJECT
    let section = |image: &mut Image,
                   index: usize,
                   kind: u32,
                   offset: u64,
                   size: u64,
                   link: u32,
                   entry: u64| {
        let at = SECTION_HEADERS_FILE_OFFSET + 64 * index;
        image.put_u32(at + 4, kind);
        image.put_u64(at + 24, offset);
        image.put_u64(at + 32, size);
        image.put_u32(at + 40, link);
        image.put_u64(at + 56, entry);
    };
    section(&mut image, 1, 2, SYMTAB_FILE_OFFSET as u64, 72, 2, 24);
    section(
        &mut image,
        2,
        3,
        STRTAB_FILE_OFFSET as u64,
        names.len() as u64,
        0,
        0,
    );
    image
}
