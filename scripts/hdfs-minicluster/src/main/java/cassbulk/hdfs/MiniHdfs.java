package cassbulk.hdfs;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.server.datanode.DataNode;

/**
 * Helper JVM behind scripts/hdfs (see that script; not part of cassbulk itself).
 *
 * <pre>
 *   MiniHdfs serve --basedir DIR [--port 9000] [--conf key=value]...
 *       Starts a MiniDFSCluster (one namenode on 127.0.0.1:PORT, one datanode, every other port
 *       ephemeral on 127.0.0.1), prints "Ready! hdfs://127.0.0.1:PORT" on stdout once the
 *       datanode is registered and safe mode is off, then runs until SIGTERM/SIGINT/SIGHUP,
 *       which shut the cluster down.
 *
 *   MiniHdfs put [--fs URI] LOCAL REMOTE
 *       Copies a local file, or a folder recursively, byte for byte to REMOTE (REMOTE becomes
 *       the copy, like `cp -rT`; parents are created, existing files overwritten). Unlike
 *       `hdfs dfs -put`, hidden files such as Spark's .part-*.crc are copied as ordinary files
 *       (the local file system is read with java.nio, not Hadoop's ChecksumFileSystem).
 * </pre>
 */
public final class MiniHdfs {

    private MiniHdfs() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            usage();
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        switch (args[0]) {
            case "serve" -> serve(rest);
            case "put" -> System.exit(put(rest));
            default -> usage();
        }
    }

    private static void usage() {
        System.err.println("usage: MiniHdfs serve --basedir DIR [--port N] [--conf key=value]...");
        System.err.println("       MiniHdfs put [--fs URI] LOCAL REMOTE");
        System.exit(2);
    }

    // -----------------------------------------------------------------------------------------

    private static void serve(String[] args) throws Exception {
        String basedir = null;
        int port = 9000;
        List<String[]> extra = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--basedir" -> basedir = args[++i];
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--conf" -> {
                    String kv = args[++i];
                    int eq = kv.indexOf('=');
                    if (eq <= 0) {
                        throw new IllegalArgumentException("--conf wants key=value, got " + kv);
                    }
                    extra.add(new String[] {kv.substring(0, eq), kv.substring(eq + 1)});
                }
                default -> usage();
            }
        }
        if (basedir == null) {
            usage();
        }
        File base = new File(basedir).getAbsoluteFile();

        Configuration conf = new HdfsConfiguration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base.getPath());
        conf.set("hadoop.tmp.dir", new File(base, "tmp").getPath());
        // Everything on loopback; only the namenode RPC port is fixed. (MiniDFSCluster itself
        // puts the datanode's data/ipc/http addresses on 127.0.0.1:0.)
        conf.set("dfs.namenode.rpc-bind-host", "127.0.0.1");
        conf.set("dfs.namenode.http-address", "127.0.0.1:0");
        conf.set("dfs.namenode.https-address", "127.0.0.1:0");
        conf.set("dfs.namenode.servicerpc-bind-host", "127.0.0.1");
        conf.set("dfs.namenode.lifeline.rpc-bind-host", "127.0.0.1");
        conf.set("dfs.datanode.address", "127.0.0.1:0");
        conf.set("dfs.datanode.http.address", "127.0.0.1:0");
        conf.set("dfs.datanode.https.address", "127.0.0.1:0");
        conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
        conf.set("dfs.datanode.hostname", "127.0.0.1");
        conf.setBoolean("dfs.client.use.datanode.hostname", false);
        conf.setBoolean("dfs.datanode.use.datanode.hostname", false);
        conf.setInt("dfs.replication", 1);
        conf.setInt("dfs.namenode.safemode.extension", 0);
        conf.setInt("dfs.heartbeat.interval", 1);
        for (String[] kv : extra) {
            conf.set(kv[0], kv[1]);
        }

        long t0 = System.nanoTime();
        MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf, base)
            .nameNodePort(port)
            .nameNodeHttpPort(0)
            .numDataNodes(1)
            .format(true)
            .checkDataNodeAddrConfig(true)
            .build();

        // SIGTERM/SIGINT stop the cluster from the main thread. (Not from a JVM shutdown hook:
        // Hadoop's own shutdown code then fails with "Shutdown in progress".)
        CountDownLatch stop = new CountDownLatch(1);
        for (String sig : new String[] {"TERM", "INT", "HUP"}) {
            sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> stop.countDown());
        }

        cluster.waitActive();
        DistributedFileSystem fs = cluster.getFileSystem();
        while (fs.isInSafeMode()) {
            Thread.sleep(100);
        }
        InetSocketAddress nn = cluster.getNameNode().getNameNodeAddress();
        InetSocketAddress nnHttp = cluster.getNameNode().getHttpAddress();
        DataNode dn = cluster.getDataNodes().get(0);
        System.out.printf("namenode rpc %s:%d, http %s:%d%n",
            nn.getAddress().getHostAddress(), nn.getPort(),
            nnHttp.getAddress().getHostAddress(), nnHttp.getPort());
        System.out.printf("datanode xfer %s, ipc port %d, http port %d%n",
            dn.getXferAddress(), dn.getIpcPort(), dn.getInfoPort());
        System.out.printf("started in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
        System.out.println("Ready! hdfs://127.0.0.1:" + nn.getPort());
        System.out.flush();
        stop.await();
        System.out.println("Shutting down");
        System.out.flush();
        cluster.shutdown();
        System.out.println("Stopped");
        System.out.flush();
        System.exit(0);
    }

    // -----------------------------------------------------------------------------------------

    private static int put(String[] args) throws IOException {
        String fsUri = null;
        List<String> pos = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--fs")) {
                fsUri = args[++i];
            } else {
                pos.add(args[i]);
            }
        }
        if (pos.size() != 2) {
            usage();
        }
        Path local = Path.of(pos.get(0)).toAbsolutePath().normalize();
        if (!Files.exists(local)) {
            System.err.println("put: no such local file or folder: " + local);
            return 1;
        }
        Configuration conf = new HdfsConfiguration();
        FileSystem fs = fsUri != null ? FileSystem.get(URI.create(fsUri), conf) : FileSystem.get(conf);
        org.apache.hadoop.fs.Path remote = fs.makeQualified(new org.apache.hadoop.fs.Path(pos.get(1)));

        long files = 0, dirs = 0, bytes = 0;
        if (Files.isDirectory(local)) {
            List<Path> all;
            try (Stream<Path> s = Files.walk(local, FileVisitOption.FOLLOW_LINKS)) {
                all = s.sorted().toList();
            }
            for (Path p : all) {
                String rel = local.relativize(p).toString();
                org.apache.hadoop.fs.Path dst = rel.isEmpty() ? remote : new org.apache.hadoop.fs.Path(remote, rel);
                if (Files.isDirectory(p)) {
                    fs.mkdirs(dst);
                    dirs++;
                } else {
                    bytes += copy(fs, p, dst);
                    files++;
                }
            }
        } else {
            bytes += copy(fs, local, remote);
            files++;
        }
        System.err.printf("put: %d file(s), %d folder(s), %d bytes -> %s%n", files, dirs, bytes, remote);
        fs.close();
        return 0;
    }

    private static long copy(FileSystem fs, Path src, org.apache.hadoop.fs.Path dst) throws IOException {
        try (InputStream in = Files.newInputStream(src); FSDataOutputStream out = fs.create(dst, true)) {
            return in.transferTo(out);
        }
    }
}
