    /// Returns a pointer to the `struct sg_table`, valid while `self` is borrowed.
    #[inline]
    pub fn as_raw(&self) -> *mut bindings::sg_table {
        self.inner.0.get()
