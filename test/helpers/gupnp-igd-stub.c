/* Stands in for libgupnp-igd-1.0 so that Debian 12's simple-whip-client (libsoup2) can load libnice without
 * libnice pulling in libsoup3 through gupnp-igd. UPnP port mapping is meaningless on loopback. */
typedef unsigned long GType;
void *gupnp_simple_igd_thread_new(void) { return 0; }
GType gupnp_simple_igd_get_type(void) { return 0; }
void gupnp_simple_igd_add_port(void *a, const char *p, unsigned short e, const char *l, unsigned short lp, unsigned int t, const char *d) {}
void gupnp_simple_igd_remove_port_local(void *a, const char *p, const char *l, unsigned short lp) {}
