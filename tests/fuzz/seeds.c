/*
 * seeds.c: writes the seed corpora of the fuzz targets (make fuzz-seeds):
 * the fixed consortium file and a partner line; records and a certified
 * block of a small farm-to-shelf story signed by the fixed partners (one
 * with secp256k1); proofs of each event and trace bundles up and down, in
 * binary and JSON. Usage: seeds CORPUS_DIR (it holds one folder per
 * target). Deterministic but for BIP-340's auxiliary randomness.
 */
#include "cli/cli.h"
#include "ledger/proof.h"
#include "p2p/seal.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const events[] = {
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T06:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\","
	"\"action\":\"ADD\",\"bizStep\":\"commissioning\",\"quantityList\":[{\"epcClass\":"
	"\"urn:epc:class:lgtin:0614141.012345.A\",\"quantity\":5,\"uom\":\"KGM\"}],"
	"\"bizLocation\":{\"id\":\"urn:epc:id:sgln:0614141.00001.0\"}}",
	"{\"type\":\"TransformationEvent\",\"eventTime\":\"2026-05-02T08:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\","
	"\"inputQuantityList\":[{\"epcClass\":\"urn:epc:class:lgtin:0614141.012345.A\",\"quantity\":5}],"
	"\"outputEPCList\":[\"urn:epc:id:sgtin:0614141.054321.1\"],\"transformationID\":\"urn:ex:t:1\"}",
	"{\"type\":\"AggregationEvent\",\"eventTime\":\"2026-05-02T09:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\","
	"\"action\":\"ADD\",\"parentID\":\"urn:epc:id:sscc:0614141.1234567890\","
	"\"childEPCs\":[\"urn:epc:id:sgtin:0614141.054321.1\"]}",
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-02T10:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\","
	"\"action\":\"ADD\",\"bizStep\":\"commissioning\",\"epcList\":[\"urn:epc:id:sgtin:0614141.054321.7\"],"
	"\"ilmd\":{\"cbvmda:lotNumber\":\"L7\"}}",
};
#define NEV (sizeof(events) / sizeof(events[0]))

static const char *corpus;

static void put(const char *target, const char *name, const void *buf, size_t len)
{
	char path[1024], err[256];
	snprintf(path, sizeof(path), "%s/%s", corpus, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", corpus, target, name);
	if (tr_write_file(path, buf, len, 0644, err, sizeof(err)) != TR_OK) {
		fprintf(stderr, "seeds: %s\n", err);
		exit(1);
	}
}

static void die(const char *what)
{
	fprintf(stderr, "seeds: %s\n", what);
	exit(1);
}

/* fuzz_link's seeds: its first byte says what the rest is. */
static void put_link(const char *name, uint8_t mode, const void *buf, size_t len)
{
	uint8_t *b = malloc(len + 1);
	if (!b)
		die("memory");
	b[0] = mode;
	memcpy(b + 1, buf, len);
	put("link", name, b, len + 1);
	free(b);
}

static void link_seeds(void)
{
	static const uint8_t seq[] = {
	    3,                /* 1 + 3: four messages */
	    0x80, 0x00, 'a',  /* 65,536 bytes: two chunks */
	    0x00, 0x20, 'b',  /* 64 bytes */
	    0xff, 0xfe, 'c',  /* 131,068 bytes: three chunks */
	    0x00, 0x00, 'd',  /* empty */
	    0x00, 0x00,       /* message 0, then again: a replay */
	    0x82, 0x92,       /* message 2 cut short (odd position), spliced to 0 */
	    0x80, 0x90,       /* message 0 cut short, spliced to 2 */
	    0x02, 0x01,       /* message 2, then 1: behind */
	    0x03};
	uint8_t eph[32];
	uint8_t sig[TR_SIG_LEN], hb[64], buf[512], m1[P2P_NOISE_MSG_MAX];
	p2p_noise_config nc = {.protocol = P2P_LINK_PROTOCOL,
			       .role = P2P_NOISE_INITIATOR};
	Link__Frame f[4], *fp[4];
	Link__Batch b = LINK__BATCH__INIT;
	Link__Auth a = LINK__AUTH__INIT;
	p2p_noise *hs;
	size_t n;

	memset(eph, 0x21, sizeof(eph)); /* fixed: the seed stays the same */
	if (p2p_noise_new(&nc, &hs) != TR_OK || p2p_noise_set_ephemeral(hs, eph) != TR_OK ||
	    p2p_noise_write_message(hs, NULL, 0, m1, sizeof(m1), &n) != TR_OK)
		die("noise");
	p2p_noise_free(hs);
	put_link("handshake-1", 0, m1, n);
	memset(sig, 0x5a, sizeof(sig));
	a.partner = 2;
	a.signature.data = sig;
	a.signature.len = sizeof(sig);
	put_link("auth", 2, buf, link__auth__pack(&a, buf));
	memset(hb, 0x33, sizeof(hb));
	for (int i = 0; i < 4; i++) {
		link__frame__init(&f[i]);
		f[i].version = 1;
		f[i].kind = (uint32_t)i + 1; /* consensus, gossip, height, probe */
		f[i].payload.data = hb;
		f[i].payload.len = i == 3 ? 0 : i == 2 ? 8 : sizeof(hb);
		fp[i] = &f[i];
	}
	b.received = 7;
	b.frames = fp;
	b.n_frames = 4;
	b.hold = 1;
	if (link__batch__get_packed_size(&b) > sizeof(buf))
		die("batch");
	put_link("batch", 2, buf, link__batch__pack(&b, buf));
	put_link("sealed-raw", 1, hb, sizeof(hb));
	put_link("sequence", 3, seq, sizeof(seq));
}

int main(int argc, char **argv)
{
	const tr_consortium *c = fuzz_consortium();
	char dir[] = "/tmp/trellis-seeds.XXXXXX", err[512], name[64], *json, cmd[128];
	ldg_options o = {.map_size = 16u << 20};
	uint8_t *recs[NEV], ids[NEV][TR_HASH_LEN], *block, *cert, *p, *both, hash[TR_HASH_LEN];
	uint8_t payload[TR_VOTE_PAYLOAD_LEN], sigs[3][TR_SIG_LEN];
	uint32_t replicas[3] = {1, 2, 3};
	size_t lens[NEV], blen, clen, plen;
	ldg *l;

	if (argc != 2)
		die("usage: seeds CORPUS_DIR");
	corpus = argv[1];
	put("consortium", "consortium.json", c->bytes, c->len);
	for (size_t i = 0; i < NEV; i++) {
		json_error_t je;
		json_t *ev = json_loads(events[i], 0, &je);
		uint8_t *bytes;
		size_t n;
		uint32_t signer = i == NEV - 1 ? 3 : 0;
		if (!ev || cli_event_bytes(ev, &bytes, &n) ||
		    ldg_record_build(fuzz_key(signer), signer, c->chain_id, bytes, n, &recs[i],
				     &lens[i], ids[i]))
			die("record");
		json_decref(ev);
		free(bytes);
		snprintf(name, sizeof(name), "record-%zu", i);
		put("record", name, recs[i], lens[i]);
	}
	if (ldg_block_build(c->chain_id, 1, c->chain_id, 0, 0, 0, (const uint8_t *const *)recs, lens,
			    NEV, &block, &blen, hash))
		die("block");
	tr_vote_payload(payload, 0, 1, hash);
	for (int v = 0; v < 3; v++)
		if (tr_sign_tagged(fuzz_key(replicas[v]), TR_TAG_COMMIT, c->chain_id, payload,
				   sizeof(payload), sigs[v]))
			die("vote");
	if (ldg_cert_build(0, 1, hash, replicas, (const uint8_t(*)[TR_SIG_LEN])sigs, 3, &cert, &clen))
		die("cert");
	put("block", "block-1", block, blen);
	both = malloc(4 + blen + clen);
	if (!both)
		die("memory");
	tr_be32_put(both, (uint32_t)blen);
	memcpy(both + 4, block, blen);
	memcpy(both + 4 + blen, cert, clen);
	put("block", "block-1-cert", both, 4 + blen + clen);
	free(both);
	if (!mkdtemp(dir) || ldg_open(dir, c, &o, &l, err, sizeof(err)) ||
	    ldg_append(l, block, blen, cert, clen, 0, err, sizeof(err)))
		die(err);
	for (size_t i = 0; i < NEV; i++) {
		if (ldg_prove_event(l, ids[i], &p, &plen, err, sizeof(err)))
			die(err);
		snprintf(name, sizeof(name), "event-%zu", i);
		put("proof", name, p, plen);
		if (i == 0) {
			if (ldg_proof_to_json(p, plen, &json, err, sizeof(err)))
				die(err);
			put("proof", "event-0.json", json, strlen(json));
			free(json);
		}
		free(p);
	}
	{
		static const struct {
			const char *id, *name;
			int dir;
		} tr[] = {{"urn:epc:id:sscc:0614141.1234567890", "trace-up-pallet", LDG_TRACE_UP},
			  {"urn:epc:class:lgtin:0614141.012345.A", "trace-down-lot", LDG_TRACE_DOWN},
			  {"urn:epc:id:sgtin:0614141.054321.7", "trace-up-item", LDG_TRACE_UP}};
		for (size_t i = 0; i < sizeof(tr) / sizeof(tr[0]); i++) {
			ldg_trace_opts to = {.dir = tr[i].dir};
			bool cut;
			if (ldg_prove_trace(l, tr[i].id, &to, &p, &plen, &cut, err, sizeof(err)))
				die(err);
			put("proof", tr[i].name, p, plen);
			if (i == 0) {
				if (ldg_proof_to_json(p, plen, &json, err, sizeof(err)))
					die(err);
				put("proof", "trace-up-pallet.json", json, strlen(json));
				free(json);
			}
			free(p);
		}
	}
	ldg_close(l);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		die("cleanup");
	for (size_t i = 0; i < NEV; i++)
		free(recs[i]);
	free(block);
	free(cert);
	link_seeds();
	printf("seeds written under %s\n", corpus);
	return 0;
}
