#include <kunit/device.h>
#ifdef CONFIG_HAS_DMA
#include <linux/dma-direct.h>
#endif
