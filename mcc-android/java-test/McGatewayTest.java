import io.mcc.Mcc;
import io.mcc.MccException;

import java.io.InputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.Proxy;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Host-JVM harness for an Android node using a parent as its gateway (docs: "IP forwarding
 * for Android clients"), run by tests/e2e/android-gateway.sh in a network namespace, as
 * root. It plays the VpnService app: opens a TUN device (establish()), starts the node
 * with a Protector that marks the node's UDP socket as VpnService.protect has netd do
 * (SO_MARK 0x20000, the protected-from-VPN bit), and sets up what the app's
 * VpnService.Builder would: the address, addRoute("0.0.0.0", 0) and the overlay routes in
 * a table of their own, and Android's rule sending every unmarked local socket there.
 *
 * Arguments: WORK_DIR CONFIG_DIR NAME MODE EXIT_ID WEB UDP_PORT EXIT_UNDERLAY OWN_UNDERLAY.
 * MODE "client": a node the exit node serves: HTTP, UDP and rerouted DNS must work, and
 * the servers must see EXIT_UNDERLAY; then the controls (no VPN route: the servers see
 * OWN_UNDERLAY; socket unprotected: nothing works). MODE "refused": the exit node refuses
 * this node: nothing may get out. Files: writes WORK_DIR/NAME.up once the node has its
 * parent, waits for WORK_DIR/NAME.go (the script's capture runs), writes NAME.done, and in
 * client mode waits for NAME.go2 before the controls. Prints PASS:/FAIL: lines.
 */
public final class McGatewayTest {
    private static final int PROTECTED = 0x20000;
    private static final String VPN_TABLE = "1000";
    private static final String VPN_RULE_PREF = "12000";
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

    private static String field(String json, String key) {
        Matcher m = Pattern.compile("\"" + key + "\":(\"([^\"]*)\"|null|true|false|[0-9]+)").matcher(json);
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

    private static void waitFile(Path f, int seconds) throws Exception {
        for (int i = 0; i < seconds * 5 && !Files.exists(f); i++) {
            Thread.sleep(200);
        }
        if (!Files.exists(f)) {
            throw new Exception("no " + f + " after " + seconds + " s");
        }
    }

    /** The web server's answer ("you are ADDR"), or the error. */
    private static String http(String web, int timeoutMs) {
        try {
            HttpURLConnection c = (HttpURLConnection) URI.create("http://" + web + "/whoami").toURL()
                    .openConnection(Proxy.NO_PROXY);
            c.setConnectTimeout(timeoutMs);
            c.setReadTimeout(timeoutMs);
            try (InputStream in = c.getInputStream()) {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
            }
        } catch (Exception e) {
            return "error: " + e;
        }
    }

    private static String udp(String addr, int port, byte[] msg, int timeoutMs) {
        try (DatagramSocket s = new DatagramSocket()) {
            s.setSoTimeout(timeoutMs);
            s.send(new DatagramPacket(msg, msg.length, InetAddress.getByName(addr), port));
            byte[] r = new byte[1500];
            DatagramPacket p = new DatagramPacket(r, r.length);
            s.receive(p);
            return new String(r, 0, p.getLength(), StandardCharsets.ISO_8859_1);
        } catch (Exception e) {
            return "error: " + e;
        }
    }

    /** An A question for example.test to ADDR:53; the first answer's address, or the error. */
    private static String dns(String addr, int timeoutMs) {
        byte[] q = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
            7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
        String r = udp(addr, 53, q, timeoutMs);
        if (r.startsWith("error: ") || r.length() < q.length + 16) {
            return r.startsWith("error: ") ? r : "short answer";
        }
        byte[] b = r.getBytes(StandardCharsets.ISO_8859_1);
        int n = b.length;
        return (b[n - 4] & 0xff) + "." + (b[n - 3] & 0xff) + "." + (b[n - 2] & 0xff) + "." + (b[n - 1] & 0xff);
    }

    /** HTTP until the answer is {@code want} (the gateway may just have come up). */
    private static String httpUntil(String web, String want, int tries) {
        String got = null;
        for (int i = 0; i < tries && !want.equals(got); i++) {
            got = http(web, 3000);
        }
        return got;
    }

    private static String udpUntil(String web, int port, String want, int tries) {
        String got = null;
        for (int i = 0; i < tries && (got == null || !got.startsWith(want)); i++) {
            got = udp(web, port, "ping".getBytes(StandardCharsets.UTF_8), 2000);
        }
        return got;
    }

    private static String dnsUntil(String addr, String want, int tries) {
        String got = null;
        for (int i = 0; i < tries && !want.equals(got); i++) {
            got = dns(addr, 2000);
        }
        return got;
    }

    /**
     * Starts with KEY set by LINE in mcc.conf (replacing its line, as mcc init writes every
     * key, or appended); expects Android to refuse KEY by name, before protect is called.
     */
    private static void refusedKey(Path work, String configDir, String line, String key) throws Exception {
        Path dir = work.resolve("refuse-" + key);
        Files.createDirectories(dir);
        List<String> lines = new ArrayList<>(Files.readAllLines(Path.of(configDir, "mcc.conf")));
        int lineNo = -1;
        for (int i = 0; i < lines.size() && lineNo < 0; i++) {
            if (lines.get(i).matches("\\s*" + Pattern.quote(key) + "\\s*=.*")) {
                lines.set(i, line);
                lineNo = i + 1;
            }
        }
        if (lineNo < 0) {
            lines.add(line);
            lineNo = lines.size();
        }
        Files.write(dir.resolve("mcc.conf"), lines);
        int fd = Mcc.openTun("mccref0");
        final List<Integer> calls = new ArrayList<>();
        try {
            long h = Mcc.start(dir.toString(), fd, f -> calls.add(f));
            Mcc.stop(h);
            check("Android refuses " + key, false, "it started");
        } catch (MccException e) {
            String m = String.valueOf(e.getMessage());
            check("Android refuses " + key + " by name, with its line",
                    m.contains("mcc.conf:" + lineNo + ": " + key + ": not supported on Android (") && calls.isEmpty(),
                    m + " protect calls " + calls);
            System.out.println("      MccException: " + m);
        }
    }

    /** MCC_AGW_BREAK=no-vpn-route: the app "forgets" addRoute("0.0.0.0", 0), to show the checks bite. */
    private static final boolean NO_VPN_ROUTE = "no-vpn-route".equals(System.getenv("MCC_AGW_BREAK"));

    private static void vpnRule(String op) throws Exception {
        if (!NO_VPN_ROUTE || op.equals("del")) {
            try {
                sh("ip", "rule", op, "pref", VPN_RULE_PREF, "fwmark", "0/" + PROTECTED, "iif", "lo", "lookup", VPN_TABLE);
            } catch (Exception e) {
                if (!NO_VPN_ROUTE) {
                    throw e;
                }
            }
        }
    }

    public static void main(String[] args) throws Exception {
        Path work = Path.of(args[0]);
        String configDir = args[1];
        String name = args[2];
        boolean client = args[3].equals("client");
        String exitId = args[4];
        String web = args[5];
        int udpPort = Integer.parseInt(args[6]);
        String exitUnderlay = args[7];
        String ownUnderlay = args[8];
        String viaExit = "you are " + exitUnderlay;

        if (client) {
            refusedKey(work, configDir, "exit-node = true", "exit-node");
            refusedKey(work, configDir, "kill-switch = true", "kill-switch");
            refusedKey(work, configDir, "gateway-post-add-hook = ip rule add sport 1234 lookup main",
                    "gateway-post-add-hook");
            refusedKey(work, configDir, "gateway-post-delete-hook = true", "gateway-post-delete-hook");
        }

        // ---- the node, as a VpnService starts it
        int tun = Mcc.openTun("mcc0");
        final List<Integer> protectedFds = new ArrayList<>();
        final List<String> protectedWhat = new ArrayList<>();
        long h = Mcc.start(configDir, tun, fd -> {
            protectedFds.add(fd);
            try {
                protectedWhat.add(Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString());
                Mcc.markForTest(fd, PROTECTED);
                return true;
            } catch (Exception e) {
                protectedWhat.add("error: " + e);
                return false;
            }
        });
        check(name + ": protect() exempted exactly one socket, the node's own",
                protectedFds.size() == 1 && protectedWhat.get(0).startsWith("socket:["),
                protectedFds + " -> " + protectedWhat);
        int udpFd = protectedFds.isEmpty() ? -1 : protectedFds.get(0);
        String status = Mcc.status(h);
        String address = field(status, "address");
        // What VpnService.Builder does: addAddress, addRoute("0.0.0.0", 0) and the overlay's
        // routes go into the VPN's table; every local socket without the protected bit
        // looks that table up first (Android: "fwmark 0x0/0x20000 iif lo lookup tun0").
        sh("ip", "addr", "add", address + "/16", "dev", "mcc0");
        sh("ip", "link", "set", "mcc0", "up");
        sh("ip", "route", "add", "default", "dev", "mcc0", "table", VPN_TABLE);
        sh("ip", "route", "add", "10.83.0.0/16", "dev", "mcc0", "table", VPN_TABLE);
        sh("ip", "route", "add", "10.115.0.0/16", "dev", "mcc0", "table", VPN_TABLE);
        vpnRule("add");

        String parent = null;
        for (int i = 0; i < 150 && parent == null; i++) {
            parent = field(Mcc.status(h), "parent");
            if (parent == null) {
                Thread.sleep(200);
            }
        }
        check(name + ": the node links to its parent, the exit node, through the protected socket",
                exitId.equals(parent), "parent " + parent);
        status = Mcc.status(h);
        System.out.println("      status: " + status);
        check(name + ": status() names the gateway", exitId.equals(field(status, "gateway")), status);
        Files.writeString(work.resolve(name + ".up"), "up\n");
        waitFile(work.resolve(name + ".go"), 120);

        if (client) {
            String got = httpUntil(web, viaExit, 10);
            check(name + ": HTTP to the internet host works, and the server sees the exit node's address",
                    viaExit.equals(got), "got " + got);
            // The channel to the exit node is made when the first packet needs it.
            check(name + ": status() shows the gateway up once traffic asked for it",
                    "true".equals(field(Mcc.status(h), "gateway_up")), Mcc.status(h));
            got = udpUntil(web, udpPort, "from " + exitUnderlay + ":", 10);
            check(name + ": UDP to the internet host works, masqueraded too",
                    got != null && got.startsWith("from " + exitUnderlay + ":"), "got " + got);
            boolean established = false;
            for (int i = 0; i < 150 && !established; i++) {
                established = Mcc.status(h).contains("\"established\":true");
                if (!established) {
                    Thread.sleep(200);
                }
            }
            check(name + ": the exit node's DNS tunnel is established", established, Mcc.status(h));
            got = dnsUntil("198.51.100.7", "192.0.2.53", 10);
            check(name + ": DNS to 198.51.100.7:53 is answered by the exit node's resolver (reroute-dns)",
                    "192.0.2.53".equals(got), "got " + got);
            got = dnsUntil(web, "192.0.2.53", 5);
            check(name + ": DNS to the internet host's own address too (it runs none: rerouted, not forwarded)",
                    "192.0.2.53".equals(got), "got " + got);
        } else {
            String got = http(web, 3000);
            check(name + ": HTTP to the internet host gets nothing", got.startsWith("error: "), "got " + got);
            got = udp(web, udpPort, "ping".getBytes(StandardCharsets.UTF_8), 2000);
            check(name + ": UDP to the internet host gets nothing", got.startsWith("error: "), "got " + got);
            check(name + ": status() shows the gateway not up, after the traffic asked for it",
                    "false".equals(field(Mcc.status(h), "gateway_up")), Mcc.status(h));
        }
        Files.writeString(work.resolve(name + ".done"), "done\n");

        if (client) {
            waitFile(work.resolve(name + ".go2"), 120);
            // Control 1: without the VPN's routes the app's traffic leaves in clear: the
            // masquerade check above would fail, and the script's capture sees it.
            vpnRule("del");
            String own = "you are " + ownUnderlay;
            String got = httpUntil(web, own, 3);
            check(name + ": control: without the VPN route, HTTP leaves in clear (the server sees "
                    + ownUnderlay + ")", own.equals(got), "got " + got);
            vpnRule("add");
            got = httpUntil(web, viaExit, 10);
            check(name + ": with the route back, HTTP goes through the exit node again", viaExit.equals(got),
                    "got " + got);
            // Control 2: the node's socket unprotected: its own datagrams to the exit node
            // loop into the TUN device, and nothing gets through any more.
            Mcc.markForTest(udpFd, 0);
            Thread.sleep(1000);
            got = http(web, 3000);
            String dnsGot = dns("198.51.100.7", 2000);
            check(name + ": control: with the node's socket unprotected, HTTP and DNS get nothing",
                    got.startsWith("error: ") && dnsGot.startsWith("error: "), "got " + got + " / " + dnsGot);
            Mcc.markForTest(udpFd, PROTECTED);
            got = httpUntil(web, viaExit, 20);
            check(name + ": protected again, HTTP goes through the exit node again", viaExit.equals(got),
                    "got " + got);
        }

        Mcc.stop(h);
        check(name + ": the TUN device is gone after stop()", !Files.exists(Path.of("/sys/class/net/mcc0")), null);
        System.out.println("harness: " + passed + " passed, " + failed + " failed");
        System.exit(Math.min(failed, 100));
    }
}
