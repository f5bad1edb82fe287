package io.mcc;

/**
 * An mcc node inside an Android {@code VpnService} (native library {@code libmcc_android.so}).
 *
 * <p>Typical use, in the service:
 * <pre>{@code
 * ParcelFileDescriptor pfd = new Builder()
 *         .addAddress(address, 16)          // the node's overlay address, see README
 *         .addRoute("10.83.0.0", 16)        // resolver-ipv4-network
 *         .addRoute("10.115.0.0", 16)       // static range
 *         .setMtu(1280)                     // tun-device-mtu
 *         .establish();
 * long node = Mcc.start(getFilesDir() + "/mcc", pfd.detachFd(), this::protect);
 * String json = Mcc.status(node);
 * ...
 * Mcc.stop(node);
 * }</pre>
 *
 * <p>A handle is valid from {@link #start} until {@link #stop}; a stale handle makes every
 * method throw {@link MccException}. All methods are thread-safe.
 */
public final class Mcc {
    static {
        System.loadLibrary("mcc_android");
    }

    private Mcc() {}

    /**
     * Starts a node: loads {@code configDir/mcc.conf} (as written by {@code mcc init}) and the
     * keys, certificates and tunnels it names, binds the node's sockets, calls
     * {@code protector.protect(udpFd)} with the node's UDP socket (before any packet is
     * sent), then runs the node on its own thread until {@link #stop}.
     *
     * <p>Status requests go through the node's control socket: set {@code unix-socket-path}
     * in mcc.conf to a path inside the app's files directory.
     *
     * @param configDir the configuration directory holding mcc.conf
     * @param tunFd the TUN descriptor from {@code VpnService.Builder.establish()}, detached
     *     ({@code ParcelFileDescriptor.detachFd()}): the node owns it from now on and closes it
     *     when it stops, or right away when starting fails
     * @param protector exempts the node's UDP socket from the VPN
     * @return a handle for the other methods
     * @throws MccException when the configuration, a key, a certificate or a tunnel file is
     *     wrong (the message names the file, line and key), it sets a key Android cannot
     *     honour ({@code exit-node}, {@code kill-switch}, {@code gateway-post-add-hook},
     *     {@code gateway-post-delete-hook}: refused by name), a socket cannot be bound, or
     *     {@code protect} returned false or threw
     */
    public static native long start(String configDir, int tunFd, Protector protector)
            throws MccException;

    /**
     * Stops the node: its event loop saves its state and ends, and the thread is joined.
     * The handle is invalid afterwards.
     *
     * @param handle from {@link #start}
     * @throws MccException for an unknown handle, or when the node had already stopped on
     *     its own (e.g. the TUN device was closed); the message says why
     */
    public static native void stop(long handle) throws MccException;

    /**
     * The node's status as JSON: {@code id}, {@code address}, {@code parent},
     * {@code parent_index}, {@code peers}, {@code known_nodes}, {@code tunnels} (each with
     * {@code remote_endpoint}, {@code server_side}, {@code established}), {@code gateway}
     * (the exit node of {@code gateway} in mcc.conf, or null), {@code gateway_up} (whether
     * the channel to it has a session: made when the first packet for the internet needs
     * it, and never while the exit node refuses this node) and counters.
     *
     * @param handle from {@link #start}
     * @return a JSON object
     * @throws MccException when the node is not running or has no control socket
     */
    public static native String status(long handle) throws MccException;

    /**
     * Every node this node knows, as a JSON array of objects with {@code node_id},
     * {@code address}, {@code last_seen}, {@code parent}, {@code tags} and {@code kind}
     * (what {@code mcc nodes} prints).
     *
     * @param handle from {@link #start}
     * @return a JSON array
     * @throws MccException when the node is not running or has no control socket
     */
    public static native String nodes(long handle) throws MccException;

    /**
     * Resolves a node ID, IPv4/IPv6 address, MAC address or DNS name (what
     * {@code mcc resolve} does).
     *
     * @param handle from {@link #start}
     * @param address what to resolve, e.g. a server endpoint's node ID
     * @param target {@code ipv4}, {@code ipv6}, {@code mac6} or {@code node-id}
     * @return the answer as a JSON string, e.g. {@code "10.83.0.3"}
     * @throws MccException when the address is unknown or the node is not running
     */
    public static native String resolve(long handle, String address, String target)
            throws MccException;

    /**
     * The most recent events (links up and down, parent changes, tunnels up, down and
     * installed), oldest first, each an object with {@code time} (RFC 3339) and
     * {@code event}.
     *
     * @param handle from {@link #start}
     * @return a JSON array
     * @throws MccException when the node is not running or has no control socket
     */
    public static native String events(long handle) throws MccException;

    /**
     * Creates a tunnel with this node as its server, as {@code mcc create-tunnel} does, and
     * activates it at once; the client node receives its side over the network.
     *
     * @param handle from {@link #start}
     * @param networkKey the network private key, base64 (keep it out of the app's storage)
     * @param targets comma-separated {@code proto:port} list, e.g. {@code tcp:80,udp:2222,icmp}
     * @param remoteNode the client node's ID
     * @param dnsNames comma-separated DNS names of the server endpoint, or an empty string
     * @return the server endpoint ID as a JSON string
     * @throws MccException with the reason (bad targets, wrong network key, ...)
     */
    public static native String createTunnel(long handle, String networkKey, String targets,
            String remoteNode, String dnsNames) throws MccException;

    /**
     * Testing on a Linux host only: opens (creating if needed) the TUN device {@code name}
     * without a packet-information header, as {@code VpnService.establish()} would give it.
     * Needs CAP_NET_ADMIN; an Android app cannot use this.
     *
     * @param name the interface name, e.g. {@code mcc0}
     * @return the descriptor, to pass to {@link #start}
     * @throws MccException when the device cannot be opened
     */
    public static native int openTun(String name) throws MccException;

    /**
     * Testing on a Linux host only: sets the firewall mark ({@code SO_MARK}) of socket
     * {@code fd}, as {@code VpnService.protect} has Android's netd do, so that a test's
     * routing rule can send every socket but the marked one into the TUN device. Needs
     * CAP_NET_ADMIN; an Android app calls {@code protect} instead.
     *
     * @param fd the socket, e.g. the one {@link Protector#protect} is given
     * @param mark the mark, e.g. {@code 0x20000} (Android's protected-from-VPN bit)
     * @throws MccException when the mark cannot be set
     */
    public static native void markForTest(int fd, int mark) throws MccException;

    /**
     * Testing only: panics in native code, which must arrive as an {@link MccException}.
     *
     * @throws MccException always
     */
    public static native void panicForTest() throws MccException;
}
