package io.mcc;

/**
 * Exempts a socket from the VPN, so the node's own encrypted traffic does not loop back
 * into the TUN device it serves.
 *
 * <p>In an Android app this is {@code VpnService::protect}:
 * <pre>{@code Mcc.start(dir, fd, this::protect)}</pre>
 * from inside the {@code VpnService} subclass.
 */
@FunctionalInterface
public interface Protector {
    /**
     * Called once by {@link Mcc#start}, on the calling thread, with the node's UDP socket
     * before the node sends any packet.
     *
     * @param fd the socket's file descriptor
     * @return {@code true} when the socket now bypasses the VPN; {@code false} makes
     *     {@link Mcc#start} fail with an {@link MccException}
     */
    boolean protect(int fd);
}
