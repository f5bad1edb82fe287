package io.mcc;

/**
 * An error of the mcc node, with a message naming what is at fault: for a configuration
 * error the file, line and key (e.g. {@code /data/.../mcc.conf:3: listen-addr: ...}).
 * Native code never crashes the VM: every Rust error or panic arrives as this exception.
 */
public class MccException extends Exception {
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong
     */
    public MccException(String message) {
        super(message);
    }
}
