/* no_symbol.c - a shared object without the wsg_module descriptor:
 * wsgated must refuse it, naming the missing symbol. */
int wsg_not_a_module(void);

int
wsg_not_a_module(void)
{
    return 0;
}
