/// Marks the running KUnit test skipped, with `reason` as its status comment, as C's
/// `kunit_mark_skipped()` does: the test goes on running, and its result is "skipped" unless it
/// fails. Does nothing outside a KUnit test.
///
/// # Examples
///
/// ```
/// use kernel::kunit::mark_skipped;
///
/// fn needs_hardware(present: bool) {
///     if !present {
///         mark_skipped(c"no such device");
///         return;
///     }
///     // ...
/// }
/// # needs_hardware(true);
/// ```
pub fn mark_skipped(reason: &CStr) {
    // SAFETY: `kunit_get_current_test()` is always safe to call.
    let test = unsafe { bindings::kunit_get_current_test() };
    if test.is_null() {
        return;
    }
    // SAFETY: `test` is the running test, valid while it runs, and `reason` a valid C string,
    // which `kunit_mark_skipped()` copies.
    unsafe { bindings::kunit_mark_skipped(test, reason.as_char_ptr()) };
}

