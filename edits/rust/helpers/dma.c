
__rust_helper unsigned int rust_helper_dma_get_max_seg_size(struct device *dev)
{
	return dma_get_max_seg_size(dev);
}

__rust_helper unsigned long rust_helper_dma_get_seg_boundary(struct device *dev)
{
	return dma_get_seg_boundary(dev);
}

__rust_helper bool rust_helper_dma_dev_need_sync(const struct device *dev)
{
	return dma_dev_need_sync(dev);
}

#include <linux/dma-map-ops.h>

__rust_helper bool rust_helper_dev_is_dma_coherent(struct device *dev)
{
	return dev_is_dma_coherent(dev);
}

__rust_helper bool rust_helper_dev_dma_skip_sync(struct device *dev)
{
	return dev_dma_skip_sync(dev);
}

#include <linux/swiotlb.h>

__rust_helper bool rust_helper_is_swiotlb_force_bounce(struct device *dev)
{
	return is_swiotlb_force_bounce(dev);
}

__rust_helper unsigned long rust_helper_swiotlb_pool_size(void)
{
	return IS_ENABLED(CONFIG_SWIOTLB) ? swiotlb_size_or_default() : 0;
}

__rust_helper unsigned long rust_helper_swiotlb_used_slots(struct device *dev)
{
#if IS_ENABLED(CONFIG_SWIOTLB) && IS_ENABLED(CONFIG_DEBUG_FS)
	return dev->dma_io_tlb_mem ? atomic_long_read(&dev->dma_io_tlb_mem->total_used) : 0;
#else
	return 0;
#endif
}

#ifdef CONFIG_HAS_DMA
#include <linux/dma-direct.h>

__rust_helper const struct dma_map_ops *rust_helper_get_dma_ops(struct device *dev)
{
	return get_dma_ops(dev);
}

__rust_helper dma_addr_t rust_helper_phys_to_dma(struct device *dev, phys_addr_t paddr)
{
	return phys_to_dma(dev, paddr);
}
#endif
