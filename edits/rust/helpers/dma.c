
__rust_helper unsigned int rust_helper_dma_get_max_seg_size(struct device *dev)
{
	return dma_get_max_seg_size(dev);
}

__rust_helper unsigned long rust_helper_dma_get_seg_boundary(struct device *dev)
{
	return dma_get_seg_boundary(dev);
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
