// SPDX-License-Identifier: GPL-2.0

//! Rust scatter-gather sample: a GPU-style firmware loader on QEMU's `edu` device.
//!
//! To make this driver probe, run QEMU with `-device edu,dma_mask=0xffffffff` (the device masks
//! DMA addresses to 28 bits by default; this driver sets 32); add `-machine q35 -device
//! intel-iommu` and `intel_iommu=on` to go through an IOMMU, or `-machine virt,iommu=smmuv3` on
//! arm64.
//!
//! The first half is the kernel::sg story. Like nova-core's GSP loader, the driver puts a
//! firmware image (here generated) in a [`VVec`], maps it for the device, and builds the levels
//! of a radix-3 page table from the image's DMA addresses, each level a table of its own. Next
//! to them it keeps a signature that another part of the driver made with
//! [`kernel::scatterlist`] (a table kernel::sg did not allocate and may not map), and a
//! read-back buffer over pages it allocated itself. The tables live in the driver's data of the
//! binding, each in a named field, mapped for as long as the binding lasts
//! ([`SgTable::map_bound`]): no generics, no pinning, no allocation per mapping.
//!
//! The second half drives `edu`, whose DMA engine copies through a 4 KiB buffer: the driver
//! pushes every DMA segment of the image and the signature into it and pulls them back into the
//! read-back table, then compares. Wrong DMA addresses show as a mismatch.

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
    scatterlist::{
        Owned,
        SGTable, //
    },
    sg::{
        DmaSegment,
        SgTable, //
    },
    time::{
        delay::fsleep,
        Delta, //
    },
};

/// The size of the generated firmware image.
const IMAGE_SIZE: usize = 4 * PAGE_SIZE;

/// The size of the signature.
const SIGNATURE_SIZE: usize = 512;

/// Byte `i` of the generated image: a pattern that differs from page to page.
fn image_byte(i: usize) -> u8 {
    // CAST: Truncation wanted.
    (i ^ (i >> 12) ^ 0xa5) as u8
}

/// Byte `i` of the generated signature.
fn signature_byte(i: usize) -> u8 {
    // CAST: Truncation wanted.
    (i * 7 + 3) as u8
}

/// A firmware image and what the device needs to load it, for one binding of the device.
struct Firmware<'bound> {
    /// The image, in a `VVec<u8>` the driver filled: a table kernel::sg built and mapped.
    image: SgTable<'bound>,
    /// The page table's last level: the DMA address of each page of [`Firmware::image`], as
    /// little-endian 64-bit entries (the device's byte order, whatever the CPU's).
    level2: SgTable<'bound>,
    /// The middle level: the DMA address of each page of [`Firmware::level2`].
    level1: SgTable<'bound>,
    /// The root: the DMA address of each page of [`Firmware::level1`]; what the device is given.
    level0: SgTable<'bound>,
    /// The signature, which another part of the driver made and mapped with
    /// [`kernel::scatterlist`]: kernel::sg only reads its DMA segments (see
    /// [`Firmware::signature`]).
    signature: Pin<KBox<SGTable<Owned<VVec<u8>>>>>,
    /// Where the device copies image and signature back: pages the driver allocated one by one.
    readback: SgTable<'bound>,
}

impl<'bound> Firmware<'bound> {
    /// Builds and maps every table for `dev`, for as long as `'bound` (the binding) lasts.
    fn load(dev: &'bound Device<Bound>) -> Result<Self> {
        let mut image = VVec::<u8>::with_capacity(IMAGE_SIZE, GFP_KERNEL)?;
        for i in 0..IMAGE_SIZE {
            image.push(image_byte(i), GFP_KERNEL)?;
        }
        let image = SgTable::new_mapped_bound(dev, image, DataDirection::ToDevice, GFP_KERNEL)?;
        let level2 = Self::page_table_level(dev, &image)?;
        let level1 = Self::page_table_level(dev, &level2)?;
        let level0 = Self::page_table_level(dev, &level1)?;

        let mut signature = VVec::<u8>::with_capacity(SIGNATURE_SIZE, GFP_KERNEL)?;
        for i in 0..SIGNATURE_SIZE {
            signature.push(signature_byte(i), GFP_KERNEL)?;
        }
        let signature = KBox::pin_init(
            SGTable::new(dev, signature, DataDirection::ToDevice, GFP_KERNEL),
            GFP_KERNEL,
        )?;

        // Pages allocated one by one, every other one, so that none is physically next to the
        // one before: one CPU entry each, which an IOMMU may merge for the device.
        let n = (IMAGE_SIZE + SIGNATURE_SIZE).div_ceil(PAGE_SIZE);
        let (mut pages, mut gaps) = (
            KVec::with_capacity(n, GFP_KERNEL)?,
            KVec::with_capacity(n, GFP_KERNEL)?,
        );
        for _ in 0..n {
            pages.push(Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?, GFP_KERNEL)?;
            gaps.push(Page::alloc_page(GFP_KERNEL)?, GFP_KERNEL)?;
        }
        let readback =
            SgTable::new_mapped_bound(dev, pages, DataDirection::FromDevice, GFP_KERNEL)?;

        Ok(Self {
            image,
            level2,
            level1,
            level0,
            signature,
            readback,
        })
    }

    /// A page-table level: the little-endian DMA address of every page of `table`, in a table
    /// mapped for `dev`.
    fn page_table_level(
        dev: &'bound Device<Bound>,
        table: &SgTable<'_>,
    ) -> Result<SgTable<'bound>> {
        let mut level = VVec::<u64>::new();
        for seg in table.dma_iter()? {
            for page in (0..seg.dma_len()).step_by(PAGE_SIZE) {
                level.push(
                    (seg.dma_address() + DmaAddress::from(page)).to_le(),
                    GFP_KERNEL,
                )?;
            }
        }
        SgTable::new_mapped_bound(dev, level, DataDirection::ToDevice, GFP_KERNEL)
    }

    /// The signature, as kernel::sg sees a table made by [`kernel::scatterlist`]: DMA segments,
    /// borrowed for as long as `self` is, without CPU view, not ours to map or sync.
    fn signature(&self) -> Result<SgTable<'_>> {
        SgTable::try_from(&**self.signature)
    }

    /// The tables the driver made, by name.
    fn tables(&self) -> [(&'static str, &SgTable<'bound>); 5] {
        [
            ("image", &self.image),
            ("level2", &self.level2),
            ("level1", &self.level1),
            ("level0", &self.level0),
            ("readback", &self.readback),
        ]
    }

    /// Logs every table, as `{:?}` prints it.
    fn log(&self, dev: &Device) -> Result {
        for (name, table) in self.tables() {
            dev_info!(dev, "rust_sg: {}: {:?}\n", name, table);
        }
        dev_info!(dev, "rust_sg: signature: {:?}\n", self.signature()?);
        Ok(())
    }

    /// Checks that the read-back buffer holds the image, then the signature.
    fn check(&self) -> Result<bool> {
        // The device wrote the read-back pages: give them back to the CPU before reading.
        self.readback.sync_for_cpu()?;
        let (mut want, mut got) = ([0u8; 256], [0u8; 256]);
        for offset in (0..IMAGE_SIZE).step_by(want.len()) {
            self.image.read_at(offset, &mut want)?;
            self.readback.read_at(offset, &mut got)?;
            if want != got {
                return Ok(false);
            }
        }
        let mut got = [0u8; SIGNATURE_SIZE];
        self.readback.read_at(IMAGE_SIZE, &mut got)?;
        Ok(got.iter().enumerate().all(|(i, &b)| b == signature_byte(i)))
    }
}

// The `edu` device: registers, its DMA engine, and how the driver feeds it DMA segments.

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

type Bar0<'bound> = pci::Bar<'bound, { regs::END }>;

/// The `edu` DMA engine.
struct Edu<'a, 'bound>(&'a Bar0<'bound>);

impl Edu<'_, '_> {
    /// Runs one transfer of `len` bytes and waits for it (the device takes about 100 ms).
    ///
    /// The registers are 64 bits wide, but a 32-bit write sets the whole register, and the
    /// device's 32-bit DMA mask keeps every address below 4 GiB.
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

    /// Copies the DMA segments of `sources`, in order, into those of `dst` through the device's
    /// buffer, a chunk at a time. Returns the bytes moved and the number of transfers.
    fn copy(&self, sources: &[&SgTable<'_>], dst: &SgTable<'_>) -> Result<(usize, usize)> {
        let mut dst = Cursor::new(dst.dma_iter()?);
        let (mut moved, mut transfers) = (0, 0);
        for src in sources {
            let mut src = Cursor::new(src.dma_iter()?);
            while let Some((addr, len)) = src.take(regs::CHUNK) {
                self.transfer(addr, regs::BUFFER, len, false)?;
                let mut done = 0;
                while done < len {
                    let (daddr, dlen) = dst.take(len - done).ok_or(EINVAL)?;
                    self.transfer(regs::BUFFER + done as u64, daddr, dlen, true)?;
                    done += dlen;
                    transfers += 1;
                }
                moved += len;
                transfers += 1;
            }
        }
        Ok((moved, transfers))
    }
}

/// Hands out pieces of a sequence of DMA segments, in order, at most `max` bytes at a time.
struct Cursor<I> {
    segments: I,
    current: Option<DmaSegment>,
    offset: usize,
}

impl<I: Iterator<Item = DmaSegment>> Cursor<I> {
    fn new(mut segments: I) -> Self {
        let current = segments.next();
        Self {
            segments,
            current,
            offset: 0,
        }
    }

    fn take(&mut self, max: usize) -> Option<(DmaAddress, usize)> {
        let seg = self.current?;
        let len = seg.dma_len() as usize;
        let n = max.min(len - self.offset);
        let piece = (seg.dma_address() + self.offset as DmaAddress, n);
        self.offset += n;
        if self.offset == len {
            self.current = self.segments.next();
            self.offset = 0;
        }
        Some(piece)
    }
}

// The driver.

struct SgSample<'bound> {
    pdev: &'bound pci::Device,
    firmware: Firmware<'bound>,
}

/// QEMU's vendor ID (0x1234) has no [`pci::Vendor`] constant: match the class of `edu`
/// ("other", 0x00ff00) and check the IDs in `probe`.
const EDU_VENDOR: u16 = 0x1234;
const EDU_DEVICE: u16 = 0x11e8;

kernel::pci_device_table!(
    PCI_TABLE,
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
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        if pdev.vendor_id().as_raw() != EDU_VENDOR || pdev.device_id() != EDU_DEVICE {
            return Err(ENODEV);
        }
        pdev.enable_device_mem()?;
        pdev.set_master();
        let bar = pdev.iomap_region_sized::<{ regs::END }>(0, c"rust_sg")?;
        dev_info!(pdev, "rust_sg: edu device {:#x}\n", bar.read32(regs::ID));

        // SAFETY: No DMA allocation or mapping of this device is in flight during probe.
        unsafe { pdev.dma_set_mask_and_coherent(DmaMask::new::<32>())? };

        let firmware = Firmware::load(pdev.as_ref())?;
        firmware.log(pdev.as_ref())?;
        let signature = firmware.signature()?;
        let (moved, transfers) =
            Edu(&bar).copy(&[&firmware.image, &signature], &firmware.readback)?;
        if !firmware.check()? {
            dev_err!(
                pdev,
                "rust_sg: round trip FAILED: the read-back bytes differ\n"
            );
            return Err(EIO);
        }
        dev_info!(
            pdev,
            "rust_sg: round trip OK: {} bytes, {} + {} source and {} read-back segments, {} transfers\n",
            moved,
            firmware.image.nents()?,
            signature.nents()?,
            firmware.readback.nents()?,
            transfers
        );
        drop(signature);
        Ok(SgSample { pdev, firmware })
    }
}

impl Drop for SgSample<'_> {
    fn drop(&mut self) {
        // The tables are dropped after this, still bound: each unmaps, then frees what it owns.
        let mapped = self
            .firmware
            .tables()
            .iter()
            .filter(|(_, t)| t.is_mapped())
            .count();
        dev_info!(
            self.pdev,
            "rust_sg: unbinding, {} tables to unmap\n",
            mapped
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
