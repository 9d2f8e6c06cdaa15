// SPDX-License-Identifier: GPL-2.0

//! Rust scatter-gather sample: a GPU-style firmware loader on QEMU's `edu` device.
//!
//! To make this driver probe, run QEMU with `-device edu` (add `-machine q35 -device
//! intel-iommu` and `intel_iommu=on` to go through an IOMMU).
//!
//! Like nova-core's GSP loader, it puts a firmware image (here generated) in a [`VVec`], maps it
//! for the device, and builds page-table levels from the image's DMA addresses, each level in a
//! table of its own. All tables, of different origins, live in one plain, non-generic field:
//! `KVec<SgTable<'static>>`.
//!
//! The `edu` device has a DMA engine and a 4 KiB buffer. The driver pushes every DMA segment of
//! the image into that buffer and pulls it back into a table over pages it allocated, then
//! compares: wrong DMA addresses show as a mismatch.

use kernel::{
    device::{
        Bound,
        Core,
        Device, //
    },
    dma::{
        DataDirection,
        Device as _,
        DmaAddress,
        DmaMask, //
    },
    io::Io,
    page::{
        Page,
        PAGE_SIZE, //
    },
    pci,
    prelude::*,
    sg::SgTable,
    time::{
        delay::fsleep,
        Delta, //
    },
};

/// The `edu` registers we use (QEMU's docs/specs/edu.rst).
mod regs {
    pub(super) const ID: usize = 0x00;
    pub(super) const DMA_SRC: usize = 0x80;
    pub(super) const DMA_DST: usize = 0x88;
    pub(super) const DMA_COUNT: usize = 0x90;
    pub(super) const DMA_CMD: usize = 0x98;
    pub(super) const END: usize = 0xa0;

    /// `DMA_CMD`: start a transfer; reads back as set until it is done.
    pub(super) const CMD_START: u32 = 1 << 0;
    /// `DMA_CMD`: from the device's buffer to RAM (else from RAM to the buffer).
    pub(super) const CMD_TO_RAM: u32 = 1 << 1;

    /// Where the device's 4 KiB buffer sits in its own DMA address space.
    pub(super) const BUFFER: u64 = 0x40000;
    /// How much we move per transfer: QEMU's `edu` (up to at least 7.2) rejects a transfer that
    /// ends at the very end of its buffer, so use half of it.
    pub(super) const CHUNK: usize = 2048;
}

/// The size of the generated firmware image.
const FIRMWARE_SIZE: usize = 4 * PAGE_SIZE;

/// Indices in [`SgSample::tables`].
const FIRMWARE: usize = 0;
const READBACK: usize = 4;

type Bar0<'bound> = pci::Bar<'bound, { regs::END }>;

/// The `edu` DMA engine.
struct Edu<'a, 'bound>(&'a Bar0<'bound>);

impl Edu<'_, '_> {
    /// Runs one transfer of `len` bytes and waits for it (the device takes about 100 ms).
    ///
    /// The registers are 64 bits wide, but a 32-bit write sets the whole register, and the
    /// device's 28-bit DMA mask keeps every address below 4 GiB.
    fn transfer(&self, src: u64, dst: u64, len: usize, to_ram: bool) -> Result {
        self.0.write32(u32::try_from(src)?, regs::DMA_SRC);
        self.0.write32(u32::try_from(dst)?, regs::DMA_DST);
        self.0.write32(u32::try_from(len)?, regs::DMA_COUNT);
        let dir = if to_ram { regs::CMD_TO_RAM } else { 0 };
        self.0.write32(regs::CMD_START | dir, regs::DMA_CMD);
        for _ in 0..500 {
            if self.0.read32(regs::DMA_CMD) & regs::CMD_START == 0 {
                return Ok(());
            }
            fsleep(Delta::from_millis(5));
        }
        Err(ETIMEDOUT)
    }
}

/// Hands out pieces of a list of DMA segments, in order, at most `max` bytes at a time.
struct Cursor<'a> {
    segments: &'a [(DmaAddress, usize)],
    index: usize,
    offset: usize,
}

impl<'a> Cursor<'a> {
    fn new(segments: &'a [(DmaAddress, usize)]) -> Self {
        Self {
            segments,
            index: 0,
            offset: 0,
        }
    }

    fn take(&mut self, max: usize) -> Option<(DmaAddress, usize)> {
        let &(addr, len) = self.segments.get(self.index)?;
        let n = max.min(len - self.offset);
        let piece = (addr + self.offset as DmaAddress, n);
        self.offset += n;
        if self.offset == len {
            self.index += 1;
            self.offset = 0;
        }
        Some(piece)
    }
}

/// The DMA segments of a mapped table.
fn segments(table: &SgTable<'_>) -> Result<KVec<(DmaAddress, usize)>> {
    let mut v = KVec::new();
    for seg in table.dma_iter()? {
        v.push((seg.dma_address(), seg.dma_len() as usize), GFP_KERNEL)?;
    }
    Ok(v)
}

/// A page-table level: the DMA address of every page of `table`, mapped for `dev`.
fn page_table_level(dev: &Device<Bound>, table: &SgTable<'_>) -> Result<SgTable<'static>> {
    let mut level = VVec::<u64>::new();
    for seg in table.dma_iter()? {
        for page in (0..seg.dma_len() as usize).step_by(PAGE_SIZE) {
            level.push(seg.dma_address() + page as DmaAddress, GFP_KERNEL)?;
        }
    }
    SgTable::new_mapped(dev, level, DataDirection::ToDevice, GFP_KERNEL)
}

struct SgSample<'bound> {
    pdev: &'bound pci::Device,
    /// Every table the device uses, whatever its origin: the firmware image (a `VVec`), three
    /// page-table levels (`VVec`s), and a read-back buffer over pages the driver allocated.
    tables: KVec<SgTable<'static>>,
}

impl SgSample<'_> {
    /// Builds the firmware image, its page-table levels and the read-back buffer, all mapped.
    fn load(pdev: &pci::Device<Core<'_>>) -> Result<KVec<SgTable<'static>>> {
        let dev = pdev.as_ref();
        let mut image = VVec::<u8>::with_capacity(FIRMWARE_SIZE, GFP_KERNEL)?;
        for i in 0..FIRMWARE_SIZE {
            // CAST: Truncation wanted: a pattern that differs from page to page.
            image.push((i ^ (i >> 12) ^ 0xa5) as u8, GFP_KERNEL)?;
        }

        let mut tables = KVec::with_capacity(5, GFP_KERNEL)?;
        tables.push(
            SgTable::new_mapped(dev, image, DataDirection::ToDevice, GFP_KERNEL)?,
            GFP_KERNEL,
        )?;
        // Radix-3, like GSP: level 2 points at the image's pages, level 1 at level 2's, level 0
        // at level 1's.
        for level in 0..3 {
            let table = page_table_level(dev, &tables[level])?;
            tables.push(table, GFP_KERNEL)?;
        }

        // Pages the driver allocates one by one, every other one, so that none is physically
        // next to the one before: one CPU entry each, which an IOMMU may merge for the device.
        let n = FIRMWARE_SIZE / PAGE_SIZE;
        let (mut pages, mut gaps) = (
            KVec::with_capacity(n, GFP_KERNEL)?,
            KVec::with_capacity(n, GFP_KERNEL)?,
        );
        for _ in 0..n {
            pages.push(Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?, GFP_KERNEL)?;
            gaps.push(Page::alloc_page(GFP_KERNEL)?, GFP_KERNEL)?;
        }
        tables.push(
            SgTable::new_mapped(dev, pages, DataDirection::FromDevice, GFP_KERNEL)?,
            GFP_KERNEL,
        )?;
        drop(gaps);
        Ok(tables)
    }

    /// Moves the image through the device's buffer into the read-back table, then compares.
    fn round_trip(
        pdev: &pci::Device<Core<'_>>,
        bar: &Bar0<'_>,
        tables: &[SgTable<'static>],
    ) -> Result {
        let edu = Edu(bar);
        let image = segments(&tables[FIRMWARE])?;
        let readback = segments(&tables[READBACK])?;
        let mut src = Cursor::new(&image);
        let mut dst = Cursor::new(&readback);
        let (mut moved, mut transfers) = (0, 0);
        while let Some((addr, len)) = src.take(regs::CHUNK) {
            edu.transfer(addr, regs::BUFFER, len, false)?;
            let mut done = 0;
            while done < len {
                let (daddr, dlen) = dst.take(len - done).ok_or(EINVAL)?;
                edu.transfer(regs::BUFFER + done as u64, daddr, dlen, true)?;
                done += dlen;
                transfers += 1;
            }
            moved += len;
            transfers += 1;
        }

        // The device wrote the read-back pages: give them back to the CPU before reading.
        tables[READBACK].sync_for_cpu()?;
        let (mut want, mut got) = ([0u8; 256], [0u8; 256]);
        for offset in (0..FIRMWARE_SIZE).step_by(want.len()) {
            tables[FIRMWARE].read_at(offset, &mut want)?;
            tables[READBACK].read_at(offset, &mut got)?;
            if want != got {
                dev_err!(
                    pdev,
                    "rust_sg: round trip FAILED: bytes differ at offset {:#x}\n",
                    offset
                );
                return Err(EIO);
            }
        }
        dev_info!(
            pdev,
            "rust_sg: round trip OK: {} bytes, {} image and {} read-back segments, {} transfers\n",
            moved,
            image.len(),
            readback.len(),
            transfers
        );
        Ok(())
    }
}

/// QEMU's vendor ID (0x1234) has no [`pci::Vendor`] constant: match the class of `edu`
/// ("other", 0x00ff00) and check the IDs in `probe`.
const EDU_VENDOR: u16 = 0x1234;
const EDU_DEVICE: u16 = 0x11e8;

kernel::pci_device_table!(
    PCI_TABLE,
    MODULE_PCI_TABLE,
    <SgDriver as pci::Driver>::IdInfo,
    [(pci::DeviceId::from_class(0x00ff00, 0xffff00), ())]
);

struct SgDriver;

impl pci::Driver for SgDriver {
    type IdInfo = ();
    type Data<'bound> = SgSample<'bound>;
    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: &'bound Self::IdInfo,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        if pdev.vendor_id().as_raw() != EDU_VENDOR || pdev.device_id() != EDU_DEVICE {
            return Err(ENODEV);
        }
        pdev.enable_device_mem()?;
        pdev.set_master();
        let bar = pdev.iomap_region_sized::<{ regs::END }>(0, c"rust_sg")?;
        dev_info!(pdev, "rust_sg: edu device {:#x}\n", bar.read32(regs::ID));

        // SAFETY: No DMA allocation or mapping of this device is in flight during probe.
        unsafe { pdev.dma_set_mask_and_coherent(DmaMask::new::<28>())? };

        let tables = SgSample::load(pdev)?;
        for (i, table) in tables.iter().enumerate() {
            dev_info!(
                pdev,
                "rust_sg: table {}: {} bytes, {} CPU entries, {} DMA segments from {:#x}, {:?}\n",
                i,
                table.size(),
                table.orig_nents(),
                table.nents()?,
                table.dma_iter()?.next().map_or(0, |seg| seg.dma_address()),
                table.direction()
            );
        }
        SgSample::round_trip(pdev, &bar, &tables)?;
        Ok(SgSample { pdev, tables })
    }
}

impl Drop for SgSample<'_> {
    fn drop(&mut self) {
        dev_info!(
            self.pdev,
            "rust_sg: unbinding, {} tables to unmap\n",
            self.tables.len()
        );
    }
}

kernel::module_pci_driver! {
    type: SgDriver,
    name: "rust_sg",
    authors: ["kernel::sg developers"],
    description: "Rust scatter-gather sample: firmware loader on QEMU's edu device",
    license: "GPL v2",
}
