/* sdk_min.c - the smallest guest: main calls nothing from the SDK, so only
 * the linker script's ENTRY(_start) pulls the SDK's entry in. Exits 5. */
int main(void)
{
	return 5;
}
