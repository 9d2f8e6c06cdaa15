// SPDX-License-Identifier: GPL-2.0

use kernel::{
    device,
    dma::{
        Coherent,
        CoherentBox,
        DataDirection,
        DmaAddress, //
    },
    prelude::*,
    sg::SgTable,
};

use crate::{
    firmware::{
        elf,
        riscv::RiscvFirmware, //
    },
    gpu::{
        Architecture,
        Chipset, //
    },
    gsp::GSP_PAGE_SIZE, //
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
pub(crate) struct GspFirmware {
    /// The GSP firmware inside a [`VVec`], device-mapped via a SG table.
    _fw: SgTable<'static>,
    /// Level 2 page table whose entries contain DMA addresses of firmware pages.
    _level2: SgTable<'static>,
    /// Level 1 page table whose entries contain DMA addresses of level 2 pages.
    _level1: SgTable<'static>,
    /// Level 0 page table (single 4KB page) with one entry: DMA address of first level 1 page.
    level0: Coherent<[u64]>,
    /// Size in bytes of the firmware contained in [`Self::_fw`].
    pub(crate) size: usize,
    /// Device-mapped GSP signatures matching the GPU's [`Chipset`].
    pub(crate) signatures: Coherent<[u8]>,
    /// GSP bootloader, verifies the GSP firmware before loading and running it.
    pub(crate) bootloader: RiscvFirmware,
}

impl GspFirmware {
    fn find_gsp_sigs_section(chipset: Chipset) -> &'static str {
        match chipset.arch() {
            Architecture::Turing if matches!(chipset, Chipset::TU116 | Chipset::TU117) => {
                ".fwsignature_tu11x"
            }
            Architecture::Turing => ".fwsignature_tu10x",
            Architecture::Ampere if chipset == Chipset::GA100 => ".fwsignature_ga100",
            Architecture::Ampere => ".fwsignature_ga10x",
            Architecture::Ada => ".fwsignature_ad10x",
            Architecture::Hopper => ".fwsignature_gh10x",
            Architecture::BlackwellGB10x => ".fwsignature_gb10x",
            Architecture::BlackwellGB20x => ".fwsignature_gb20x",
        }
    }

    /// Loads the GSP firmware binaries, map them into `dev`'s address-space, and creates the page
    /// tables expected by the GSP bootloader to load it.
    pub(crate) fn new(
        dev: &device::Device<device::Bound>,
        chipset: Chipset,
        ver: &str,
    ) -> Result<Self> {
        let firmware = super::request_firmware(dev, chipset, "gsp", ver)?;

        let fw_section = elf::elf_section(firmware.data(), ".fwimage").ok_or(EINVAL)?;

        let size = fw_section.len();

        // Move the firmware into a vmalloc'd vector and map it into the device address space.
        let mut fw_vvec = VVec::with_capacity(size, GFP_KERNEL)?;
        fw_vvec.extend_from_slice(fw_section, GFP_KERNEL)?;
        let fw = SgTable::new_mapped(dev, fw_vvec, DataDirection::ToDevice, GFP_KERNEL)?;

        // Map the firmware onto the level 2 page table, and map it into the device address space.
        let level2 =
            SgTable::new_mapped(dev, map_into_lvl(&fw)?, DataDirection::ToDevice, GFP_KERNEL)?;

        // Map the level 2 page table onto the level 1 page table, and map it into the device
        // address space.
        let level1 = SgTable::new_mapped(
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

        let signatures = {
            let sigs_section = Self::find_gsp_sigs_section(chipset);

            elf::elf_section(firmware.data(), sigs_section)
                .ok_or(EINVAL)
                .and_then(|data| Coherent::from_slice(dev, data, GFP_KERNEL))?
        };

        let bootloader = {
            let bl = super::request_firmware(dev, chipset, "bootloader", ver)?;

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

    /// Returns the DMA handle of the radix3 level 0 page table.
    pub(crate) fn radix3_dma_handle(&self) -> DmaAddress {
        self.level0.dma_handle()
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
