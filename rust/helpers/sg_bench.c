// SPDX-License-Identifier: GPL-2.0

/*
 * The C side of the kernel::sg benchmark (rust/kernel/sg/tests/bench.rs): the loops a C driver
 * writes, to time kernel::sg against. Built only with CONFIG_RUST_SG_BENCH.
 */

#ifdef CONFIG_RUST_SG_BENCH

#include <linux/dma-mapping.h>
#include <linux/scatterlist.h>

__rust_helper u64 rust_helper_sg_bench_c_dma_sum(struct sg_table *sgt)
{
	struct scatterlist *sg;
	u64 sum = 0;
	int i;

	for_each_sgtable_dma_sg(sgt, sg, i)
		sum += sg_dma_address(sg) + sg_dma_len(sg);
	return sum;
}

__rust_helper u64 rust_helper_sg_bench_c_cpu_sum(struct sg_table *sgt)
{
	struct scatterlist *sg;
	u64 sum = 0;
	int i;

	for_each_sgtable_sg(sgt, sg, i)
		sum += (unsigned long)sg_page(sg) + sg->offset + sg->length;
	return sum;
}

__rust_helper int rust_helper_sg_bench_c_map_unmap(struct device *dev, struct sg_table *sgt,
						   enum dma_data_direction dir)
{
	int ret = dma_map_sgtable(dev, sgt, dir, 0);

	if (ret)
		return ret;
	dma_unmap_sgtable(dev, sgt, dir, 0);
	return 0;
}

__rust_helper void rust_helper_sg_bench_c_sync(struct device *dev, struct sg_table *sgt,
					     enum dma_data_direction dir)
{
	dma_sync_sgtable_for_cpu(dev, sgt, dir);
	dma_sync_sgtable_for_device(dev, sgt, dir);
}

/*
 * The loop a driver writes for a byte window of a mapped table (panthor's BO_SYNC, a GPU VM
 * bind): skip the segments before the window, clip the first and the last.
 */
__rust_helper u64 rust_helper_sg_bench_c_window_sum(struct sg_table *sgt, u64 offset, u64 len)
{
	struct scatterlist *sg;
	u64 sum = 0;
	int i;

	for_each_sgtable_dma_sg(sgt, sg, i) {
		u64 addr = sg_dma_address(sg), seg = sg_dma_len(sg);

		if (offset >= seg) {
			offset -= seg;
			continue;
		}
		addr += offset;
		seg = min(seg - offset, len);
		offset = 0;
		sum += addr + seg;
		len -= seg;
		if (!len)
			break;
	}
	return sum;
}

/* The same walk, syncing each piece for the CPU, then again for the device. */
__rust_helper void rust_helper_sg_bench_c_sync_range(struct device *dev, struct sg_table *sgt,
						     u64 offset, u64 len,
						     enum dma_data_direction dir)
{
	int pass;

	for (pass = 0; pass < 2; pass++) {
		u64 skip = offset, left = len;
		struct scatterlist *sg;
		int i;

		for_each_sgtable_dma_sg(sgt, sg, i) {
			u64 addr = sg_dma_address(sg), seg = sg_dma_len(sg);

			if (skip >= seg) {
				skip -= seg;
				continue;
			}
			addr += skip;
			seg = min(seg - skip, left);
			skip = 0;
			if (pass)
				dma_sync_single_for_device(dev, addr, seg, dir);
			else
				dma_sync_single_for_cpu(dev, addr, seg, dir);
			left -= seg;
			if (!left)
				break;
		}
	}
}

#endif /* CONFIG_RUST_SG_BENCH */
