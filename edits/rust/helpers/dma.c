
__rust_helper unsigned int rust_helper_dma_get_max_seg_size(struct device *dev)
{
	return dma_get_max_seg_size(dev);
}

__rust_helper unsigned long rust_helper_dma_get_seg_boundary(struct device *dev)
{
	return dma_get_seg_boundary(dev);
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
