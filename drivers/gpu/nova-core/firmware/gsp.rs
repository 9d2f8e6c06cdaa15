// SPDX-License-Identifier: GPL-2.0

use kernel::{
    device,
    dma::{
        Coherent,
        CoherentBox,
        DataDirection,
        DmaAddress, //
    },
    firmware,
    prelude::*,
    sg::SgTable,
    str::CString,
};

use crate::{
    firmware::{
        riscv::RiscvFirmware, //
        tlv::{
            request_tlv, //
            Tlv,
        },
    },
    gpu::Chipset,
    gsp::GSP_PAGE_SIZE,
    num::FromSafeCast,
};

/// GSP firmware with 3-level radix page tables for the GSP bootloader.
///
/// The bootloader expects firmware to be mapped starting at address 0 in GSP's virtual address
/// space:
///
/// ```text
/// Level 0:  1 page, 1 entry         -> points to first level 1 page
/// Level 1:  Multiple pages/entries  -> each entry points to a level 2 page
/// Level 2:  Multiple pages/entries  -> each entry points to a firmware page
/// ```
///
/// Each page is 4KB, each entry is 8 bytes (64-bit DMA address).
/// Also known as "Radix3" firmware.
///
/// The three tables are mapped for the lifetime `'a` of the bound device they were made for:
/// the firmware lives on the stack of the GSP boot, inside the binding.
pub(crate) struct GspFirmware<'a> {
    /// The GSP firmware inside a [`VVec`], device-mapped via a SG table.
    _fw: SgTable<'a>,
    /// Level 2 page table whose entries contain DMA addresses of firmware pages.
    _level2: SgTable<'a>,
    /// Level 1 page table whose entries contain DMA addresses of level 2 pages.
    _level1: SgTable<'a>,
    /// Level 0 page table (single 4KB page) with one entry: DMA address of first level 1 page.
    level0: Coherent<[u64]>,
    /// Size in bytes of the firmware contained in [`Self::_fw`].
    pub(crate) size: usize,
    /// Device-mapped GSP signatures matching the GPU's [`Chipset`].
    pub(crate) signatures: Coherent<[u8]>,
    /// GSP bootloader, verifies the GSP firmware before loading and running it.
    pub(crate) bootloader: RiscvFirmware,
}

impl<'a> GspFirmware<'a> {
    /// Loads the GSP firmware binaries, map them into `dev`'s address-space, and creates the page
    /// tables expected by the GSP bootloader to load it.
    pub(crate) fn new(dev: &'a device::Device<device::Bound>, chipset: Chipset) -> Result<Self> {
        let firmware = request_tlv(dev, chipset, "gsp")?;
        let tlv = Tlv::new(firmware.data())?;
        dev_dbg!(dev, "loaded gsp firmware v{}\n", tlv.get_string(b"VERS")?);

        let size = usize::from_safe_cast(tlv.get_u32(b"SIZE")?);
        let mut fw_vvec = VVec::zeroed(size, GFP_KERNEL).map_err(|_| ENOMEM)?;

        let chip_name = chipset.name();
        let file = tlv.get_string(b"FILE")?;
        let filename = CString::try_from_fmt(fmt!("nvidia/{chip_name}/gsp/{file}"))?;
        firmware::request_into_buf(&filename, dev, fw_vvec.as_mut_slice())?;

        let signatures = Coherent::from_slice(dev, tlv.get_bytes(b"SIGN")?, GFP_KERNEL)?;

        // Map the firmware into the device address space.
        let fw = SgTable::new_mapped_bound(dev, fw_vvec, DataDirection::ToDevice, GFP_KERNEL)?;

        // Map the firmware onto the level 2 page table, and map it into the device address space.
        let level2 = SgTable::new_mapped_bound(
            dev,
            map_into_lvl(&fw)?,
            DataDirection::ToDevice,
            GFP_KERNEL,
        )?;

        // Map the level 2 page table onto the level 1 page table, and map it into the device
        // address space.
        let level1 = SgTable::new_mapped_bound(
            dev,
            map_into_lvl(&level2)?,
            DataDirection::ToDevice,
            GFP_KERNEL,
        )?;

        // Allocate the level 0 page table as a device-visible DMA object, and map the level 1 page
        // table onto it: its first entry is the DMA address of the first level 1 page.
        let level1_entry_addr = level1.dma_iter()?.next().ok_or(EINVAL)?.dma_address();
        let mut level0 =
            CoherentBox::<[u64]>::zeroed_slice(dev, GSP_PAGE_SIZE / size_of::<u64>(), GFP_KERNEL)?;
        level0[0] = level1_entry_addr.to_le();

        let bootloader = {
            let bl = request_tlv(dev, chipset, "gsp_bootloader")?;

            RiscvFirmware::new(dev, &bl)?
        };

        Ok(Self {
            _fw: fw,
            _level2: level2,
            _level1: level1,
            level0: level0.into(),
            size,
            signatures,
            bootloader,
        })
    }

    /// Returns the DMA address of the radix3 level 0 page table.
    pub(crate) fn radix3_dma_address(&self) -> DmaAddress {
        self.level0.dma_address()
    }
}

/// Build a page table from a scatter-gather table.
///
/// Writes a page table entry for each 4KB page of the DMA-mapped `sg_table`, in order: the DMA
/// address of the page, little-endian. For example, a 16KB DMA segment becomes 4 consecutive page
/// table entries.
fn map_into_lvl(sg_table: &SgTable<'_>) -> Result<VVec<u64>> {
    let mut dst = VVec::with_capacity(sg_table.size().div_ceil(GSP_PAGE_SIZE), GFP_KERNEL)?;

    for page in sg_table
        .dma_window(0, sg_table.size())?
        .chunks(GSP_PAGE_SIZE)?
    {
        dst.push(page.dma_address().to_le(), GFP_KERNEL)?;
    }

    Ok(dst)
}
