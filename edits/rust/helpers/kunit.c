
#include <kunit/test.h>

__rust_helper void rust_helper_kunit_mark_skipped(struct kunit *test, const char *reason)
{
	kunit_mark_skipped(test, "%s", reason);
}
