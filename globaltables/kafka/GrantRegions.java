// `globaltables kafka grant`: SCRAM users and ACLs for regions, through Kafka's own Admin API,
// in one JVM run for every region. Run by globaltables.kafka_broker.grant_regions() as a
// single-file source program (Java 11+ with a JDK):
//
//     java -cp "<kafka lib>/*" GrantRegions.java < requests
//
// Everything comes on stdin, never on the command line (other users of the machine can read
// a process's arguments), one tab-separated line each:
//
//     config  <client property>  <value>    an Admin client property (bootstrap.servers,
//                                           security.protocol, sasl.mechanism, sasl.jaas.config…)
//     region  <name>  <password>            a region to grant
//
// For region R, principal User:region-R (a SCRAM-SHA-512 credential) gets:
//
//     TOPIC  globaltables.R.changes  LITERAL   WRITE, DESCRIBE   its own change topic only
//     TOPIC  globaltables.           PREFIXED  READ, DESCRIBE    every region's change topic
//     TOPIC  globaltables.           PREFIXED  CREATE            ensure_topics() creates its
//                                                                peers' topics to subscribe early
//     GROUP  globaltables.apply.R    LITERAL   READ              its applier's consumer group
//
// The idempotent producer needs no IDEMPOTENT_WRITE on the cluster: since Kafka 3.0 (KIP-679)
// WRITE on any topic allows InitProducerId. Re-running is harmless: an upsert replaces the
// password, and creating an ACL that exists is a no-op.
//
// On a cluster each broker applies new users and ACLs when it replays the metadata log, so a
// client connecting right after the controller committed them may still be refused by a
// broker that lags. The grant therefore returns only once every voter and observer of the
// metadata quorum has the log up to the high watermark seen after the writes (bounded: 30 s).
//
// Exit 0 and one "granted region-R" line per region on stdout; exit 1 with the reason on stderr.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class GrantRegions {
    static final String PREFIX = "globaltables.";
    static final int ITERATIONS = 8192;

    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        Map<String, String> regions = new LinkedHashMap<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            String[] parts = line.split("\t", 3);
            if (parts.length != 3) {
                fail("malformed request line (expected 3 tab-separated fields)");
            }
            switch (parts[0]) {
                case "config":
                    config.put(parts[1], parts[2]);
                    break;
                case "region":
                    regions.put(parts[1], parts[2]);
                    break;
                default:
                    fail("unknown request " + parts[0]);
            }
        }
        if (regions.isEmpty()) {
            fail("no region to grant");
        }

        List<UserScramCredentialAlteration> users = new ArrayList<>();
        List<AclBinding> acls = new ArrayList<>();
        for (Map.Entry<String, String> region : regions.entrySet()) {
            String name = region.getKey();
            String user = "region-" + name;
            String principal = "User:" + user;
            users.add(new UserScramCredentialUpsertion(
                    user,
                    new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, ITERATIONS),
                    region.getValue()));
            ResourcePattern own = new ResourcePattern(
                    ResourceType.TOPIC, PREFIX + name + ".changes", PatternType.LITERAL);
            ResourcePattern all = new ResourcePattern(ResourceType.TOPIC, PREFIX, PatternType.PREFIXED);
            ResourcePattern group = new ResourcePattern(
                    ResourceType.GROUP, PREFIX + "apply." + name, PatternType.LITERAL);
            acls.add(allow(own, principal, AclOperation.WRITE));
            acls.add(allow(own, principal, AclOperation.DESCRIBE));
            acls.add(allow(all, principal, AclOperation.READ));
            acls.add(allow(all, principal, AclOperation.DESCRIBE));
            acls.add(allow(all, principal, AclOperation.CREATE));
            acls.add(allow(group, principal, AclOperation.READ));
        }

        config.putIfAbsent("client.id", "globaltables-grant");
        try (Admin admin = Admin.create(config)) {
            admin.alterUserScramCredentials(users).all().get(60, TimeUnit.SECONDS);
            admin.createAcls(acls).all().get(60, TimeUnit.SECONDS);
            awaitEveryNode(admin);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            fail(cause.getClass().getSimpleName() + ": " + cause.getMessage());
        }
        for (String name : regions.keySet()) {
            System.out.println("granted region-" + name);
        }
    }

    /** Wait until every node of the metadata quorum holds the log up to the high watermark
     *  read now, i.e. past the records just written. */
    static void awaitEveryNode(Admin admin) throws Exception {
        long target = admin.describeMetadataQuorum().quorumInfo().get(30, TimeUnit.SECONDS).highWatermark();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            QuorumInfo quorum = admin.describeMetadataQuorum().quorumInfo().get(30, TimeUnit.SECONDS);
            long behind = 0;
            List<QuorumInfo.ReplicaState> nodes = new ArrayList<>(quorum.voters());
            nodes.addAll(quorum.observers());
            for (QuorumInfo.ReplicaState node : nodes) {
                if (node.logEndOffset() < target) {
                    behind++;
                }
            }
            if (behind == 0) {
                return;
            }
            if (System.nanoTime() > deadline) {
                fail(behind + " Kafka node(s) had not replayed the new users and ACLs after 30 s");
            }
            Thread.sleep(100);
        }
    }

    static AclBinding allow(ResourcePattern pattern, String principal, AclOperation op) {
        return new AclBinding(pattern, new AccessControlEntry(principal, "*", op, AclPermissionType.ALLOW));
    }

    static void fail(String message) {
        System.err.println("GrantRegions: " + message);
        System.exit(1);
    }
}
