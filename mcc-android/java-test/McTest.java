import io.mcc.Mcc;
import io.mcc.MccException;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Host-JVM test harness for io.mcc.Mcc, run by tests/e2e/android-jvm.sh inside a network
 * namespace, as root. It plays the Android app: opens a TUN device (standing in for
 * VpnService.establish()), starts the node with a recording Protector, then talks through
 * the tunnel the script creates on the root node.
 *
 * Arguments: WORK_DIR CONFIG_DIR ROOT_ID UDP_PORT TCP_PORT. Files: writes WORK_DIR/jvm.ready
 * once the node has a parent; waits for WORK_DIR/sep.txt (the server endpoint ID).
 * Prints PASS:/FAIL: lines; the exit status is the number of failures.
 */
public final class McTest {
    private static int passed = 0;
    private static int failed = 0;

    private static void check(String name, boolean ok, String detail) {
        if (ok) {
            passed++;
            System.out.println("PASS: " + name);
        } else {
            failed++;
            System.out.println("FAIL: " + name + (detail == null ? "" : " (" + detail + ")"));
        }
        System.out.flush();
    }

    interface Call {
        void run() throws Exception;
    }

    /** Expects an MccException whose message contains every one of {@code parts}. */
    private static void expectMcc(String name, Call c, String... parts) {
        try {
            c.run();
            check(name, false, "no exception");
        } catch (MccException e) {
            String m = String.valueOf(e.getMessage());
            boolean all = true;
            for (String p : parts) {
                all &= m.contains(p);
            }
            check(name, all, "message: " + m);
            System.out.println("      MccException: " + m);
        } catch (Throwable t) {
            check(name, false, "wrong exception: " + t);
        }
    }

    /** Whether the native thread "mcc-node" (the node's event loop) exists in this process. */
    private static boolean nodeThreadExists() {
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            return tasks.anyMatch(t -> {
                try {
                    return Files.readString(t.resolve("comm")).trim().equals("mcc-node");
                } catch (Exception e) {
                    return false;
                }
            });
        } catch (Exception e) {
            return false;
        }
    }

    private static String field(String json, String key) {
        Matcher m = Pattern.compile("\"" + key + "\":(\"([^\"]*)\"|null|[0-9]+)").matcher(json);
        if (!m.find()) {
            return null;
        }
        return m.group(2) != null ? m.group(2) : (m.group(1).equals("null") ? null : m.group(1));
    }

    private static void sh(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new Exception(String.join(" ", cmd) + ": " + out.trim());
        }
    }

    private static String udpEcho(String addr, int port, String msg) throws Exception {
        try (DatagramSocket s = new DatagramSocket()) {
            s.setSoTimeout(2000);
            byte[] b = msg.getBytes(StandardCharsets.UTF_8);
            s.send(new DatagramPacket(b, b.length, InetAddress.getByName(addr), port));
            byte[] r = new byte[1500];
            DatagramPacket p = new DatagramPacket(r, r.length);
            s.receive(p);
            return new String(r, 0, p.getLength(), StandardCharsets.UTF_8);
        }
    }

    private static String tcpEcho(String addr, int port, String msg) throws Exception {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(addr, port), 3000);
            s.setSoTimeout(3000);
            OutputStream o = s.getOutputStream();
            o.write((msg + "\n").getBytes(StandardCharsets.UTF_8));
            o.flush();
            BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            return r.readLine();
        }
    }

    public static void main(String[] args) throws Exception {
        Path work = Path.of(args[0]);
        String configDir = args[1];
        String rootId = args[2];
        int udpPort = Integer.parseInt(args[3]);
        int tcpPort = Integer.parseInt(args[4]);

        // ---- errors come back as MccException, and the VM lives on
        expectMcc("negative tunFd -> MccException",
                () -> Mcc.start(work + "/no-such-dir", -1, fd -> true), "tunFd -1");
        int tfd = Mcc.openTun("mccbad0");
        expectMcc("missing mcc.conf -> MccException naming the file",
                () -> Mcc.start(work + "/no-such-dir", tfd, fd -> true), "no-such-dir/mcc.conf", "no such file");
        Path bad = work.resolve("bad-config");
        Files.createDirectories(bad);
        Files.writeString(bad.resolve("mcc.conf"), "# a comment\nlisten-addr = not-an-address\n");
        int tfd2 = Mcc.openTun("mccbad0");
        expectMcc("bad value -> MccException with file:line: key",
                () -> Mcc.start(bad.toString(), tfd2, fd -> true), "bad-config/mcc.conf:2: listen-addr");
        expectMcc("null config dir -> MccException", () -> Mcc.start(null, -1, fd -> true), "configDir: null");
        expectMcc("Rust panic -> MccException, no VM crash", Mcc::panicForTest, "panic", "test panic");
        expectMcc("unknown handle -> MccException", () -> Mcc.status(987654321L), "no such node");
        int tfd3 = Mcc.openTun("mccbad0");
        expectMcc("protect() returning false aborts the start",
                () -> Mcc.start(configDir, tfd3, fd -> false), "returned false");
        int tfd4 = Mcc.openTun("mccbad0");
        expectMcc("protect() throwing aborts the start",
                () -> Mcc.start(configDir, tfd4, fd -> {
                    throw new IllegalStateException("boom");
                }), "Protector.protect", "IllegalStateException: boom");
        check("the JVM survived every error", true, null);

        // ---- the real node on a real TUN device
        int tun = Mcc.openTun("mcc0");
        check("openTun gave a descriptor", tun > 2, "fd " + tun);
        final List<Integer> protectedFds = new ArrayList<>();
        final List<String> protectedWhat = new ArrayList<>();
        final List<Boolean> loopRunning = new ArrayList<>();
        long h = Mcc.start(configDir, tun, fd -> {
            protectedFds.add(fd);
            loopRunning.add(nodeThreadExists());
            try {
                protectedWhat.add(Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString());
            } catch (Exception e) {
                protectedWhat.add("unreadable: " + e);
            }
            return true;
        });
        check("protect() called exactly once", protectedFds.size() == 1, "calls: " + protectedFds);
        check("protect() got a valid socket fd (the node's UDP socket)",
                protectedFds.size() == 1 && protectedFds.get(0) > 2 && protectedWhat.get(0).startsWith("socket:["),
                "fd " + protectedFds + " -> " + protectedWhat);

        check("protect() ran before the node's event loop (so before any packet was sent)",
                loopRunning.equals(List.of(false)) && nodeThreadExists(), "mcc-node thread seen: " + loopRunning);

        String status = Mcc.status(h);
        System.out.println("      status: " + status);
        String address = field(status, "address");
        check("status() is JSON with the node's address", address != null && address.matches("[0-9.]+"), status);
        sh("ip", "addr", "add", address + "/16", "dev", "mcc0");
        sh("ip", "link", "set", "mcc0", "up");
        sh("ip", "route", "replace", "10.115.0.0/16", "dev", "mcc0");

        String parent = null;
        for (int i = 0; i < 150 && parent == null; i++) {
            parent = field(Mcc.status(h), "parent");
            if (parent == null) {
                Thread.sleep(200);
            }
        }
        check("the node links to the root (status.parent)", rootId.equals(parent), "parent " + parent);
        String nodes = Mcc.nodes(h);
        check("nodes() lists the root", nodes.startsWith("[") && nodes.contains(rootId), nodes);
        Files.writeString(work.resolve("jvm.ready"), "ready\n");

        // ---- the tunnel the script creates on the root, and traffic through it
        Path sepFile = work.resolve("sep.txt");
        for (int i = 0; i < 300 && !Files.exists(sepFile); i++) {
            Thread.sleep(200);
        }
        String sep = Files.exists(sepFile) ? Files.readString(sepFile).trim() : "";
        check("the script created the tunnel", !sep.isEmpty(), "no " + sepFile);
        String sepAddr = null;
        for (int i = 0; i < 60 && sepAddr == null && !sep.isEmpty(); i++) {
            try {
                sepAddr = Mcc.resolve(h, sep, "ipv4").replace("\"", "");
            } catch (MccException e) {
                Thread.sleep(500);
            }
        }
        check("resolve(server endpoint) gives an address", sepAddr != null && sepAddr.matches("[0-9.]+"), "" + sepAddr);
        boolean established = false;
        for (int i = 0; i < 100 && !established; i++) {
            established = Mcc.status(h).contains("\"established\":true");
            if (!established) {
                Thread.sleep(200);
            }
        }
        check("status() shows the tunnel established", established, Mcc.status(h));
        Files.writeString(work.resolve("jvm-sep-addr.txt"), sepAddr + "\n");

        String marker = "mcc-jvm-" + System.nanoTime();
        String got = null;
        String err = null;
        for (int i = 0; i < 10 && !marker.equals(got); i++) {
            try {
                got = udpEcho(sepAddr, udpPort, marker);
            } catch (Exception e) {
                err = e.toString();
            }
        }
        check("UDP echo through the tunnel (JVM node -> root -> JVM node)", marker.equals(got), "got " + got + " " + err);
        got = null;
        for (int i = 0; i < 5 && !("tcp-" + marker).equals(got); i++) {
            try {
                got = tcpEcho(sepAddr, tcpPort, "tcp-" + marker);
            } catch (Exception e) {
                err = e.toString();
                Thread.sleep(500);
            }
        }
        check("TCP echo through the tunnel", ("tcp-" + marker).equals(got), "got " + got + " " + err);

        // ---- events and tunnel creation from the app
        String events = Mcc.events(h);
        check("events() lists the parent change and the tunnel", events.startsWith("[")
                && events.contains("parent changed") && events.contains("tunnel up"), events);
        String netKey = Files.readString(work.resolve("net/network-private-key.txt")).trim();
        expectMcc("createTunnel with bad targets throws", () -> Mcc.createTunnel(h, netKey, "sctp:9", rootId, ""),
                "--targets");
        expectMcc("createTunnel with a foreign key throws", () -> Mcc.createTunnel(h,
                "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", "tcp:80", rootId, ""), "network key");
        String created = Mcc.createTunnel(h, netKey, "tcp:8080", rootId, "phone");
        String createdId = created.replace("\"", "");
        check("createTunnel returns the server endpoint ID and writes its file",
                createdId.length() == 52 && Files.exists(Path.of(configDir, "tunnels", createdId + ".conf")), created);
        check("the new tunnel is active at once", Mcc.status(h).split("server_side\":true").length > 1,
                Mcc.status(h));

        // ---- clean shutdown
        Path sock = Path.of(configDir, "mcc.sock");
        long t0 = System.nanoTime();
        Mcc.stop(h);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        check("stop() returns promptly (" + ms + " ms)", ms < 5000, null);
        check("stop() removed the control socket", !Files.exists(sock), sock.toString());
        expectMcc("a stopped handle -> MccException", () -> Mcc.status(h), "no such node");
        expectMcc("stop() twice -> MccException", () -> Mcc.stop(h), "no such node");
        check("the TUN device is gone after stop()", !Files.exists(Path.of("/sys/class/net/mcc0")), null);

        System.out.println("harness: " + passed + " passed, " + failed + " failed");
        System.exit(Math.min(failed, 100));
    }
}
