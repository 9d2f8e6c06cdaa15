#include <kunit/device.h>
