/* exit42: the host-only program vfork_exec tries to run */
int main(void) { return 42; }
