
#ifdef CONFIG_FAULT_INJECTION
__rust_helper unsigned int rust_helper_set_current_fail_nth(unsigned int nth)
{
	unsigned int old = READ_ONCE(current->fail_nth);

	WRITE_ONCE(current->fail_nth, nth);
	return old;
}
#endif
