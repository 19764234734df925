/* Linked with one layer's whole archive and only the layers below it: a
 * call from that layer to a layer above it is an undefined reference here,
 * so a wrong-direction call fails the build. */
int main(void) { return 0; }
