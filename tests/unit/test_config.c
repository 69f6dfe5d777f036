/* test_config.c - unit tests for src/daemon/config.c: defaults, the
 * embedded default and the sample file load, every key type with its errors
 * (each error pinned to its exact "file:line: message"), size and time
 * parsing, endpoint limits inheriting the global ones, duplicates, @include,
 * parse and I/O errors, and wsg_cfg_find_endpoint. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "forwarded.h"
#include "handshake.h"

Suite *config_suite(void);

/* Two lines every config needs; tests that add lines start at line 3. */
#define LISTEN "listen = ( { port = 8080; } );\n"
#define ECHO "endpoints = ( { path = \"/echo\"; module = \"echo\"; } );\n"

static char err[1024];

static struct wsg_config *
load(const char *text)
{
    err[0] = '\0';
    return wsg_cfg_load_string(text, "test.conf", err, sizeof(err));
}

static struct wsg_config *
load_ok(const char *text)
{
    struct wsg_config *cfg = load(text);
    ck_assert_msg(cfg != NULL, "load failed: %s", err);
    return cfg;
}

static void
expect_error(const char *text, const char *message)
{
    struct wsg_config *cfg = load(text);
    ck_assert_msg(cfg == NULL, "loaded, expected: %s", message);
    ck_assert_str_eq(err, message);
}

static void
assert_default_limits(const struct wsg_limits *l)
{
    ck_assert_uint_eq(l->max_frame, 1u << 20);
    ck_assert_uint_eq(l->max_message, 16u << 20);
    ck_assert_uint_eq(l->max_connections, 10000);
    ck_assert_uint_eq(l->max_connections_per_ip, 0);
    ck_assert_uint_eq(l->handshake_timeout_ms, 10000);
    ck_assert_uint_eq(l->idle_timeout_ms, 0);
    ck_assert_uint_eq(l->ping_interval_ms, 30000);
    ck_assert_uint_eq(l->close_timeout_ms, 5000);
    ck_assert_uint_eq(l->output_high_watermark, 4u << 20);
    ck_assert_int_eq(l->slow_policy, WSG_SLOW_CLOSE);
    ck_assert(l->connections_per_second_per_ip == 0);
    ck_assert_uint_eq(l->connections_burst_per_ip, 0);
    ck_assert_uint_eq(l->max_tracked_addresses, 65536);
    ck_assert(l->messages_per_second == 0);
    ck_assert_uint_eq(l->messages_burst, 0);
    ck_assert_int_eq(l->rate_policy, WSG_RATE_CLOSE);
}

/* ---- defaults, embedded default, sample -------------------------------- */

START_TEST(test_minimal_config_gets_every_default)
{
    struct wsg_config *cfg = load_ok(LISTEN ECHO);
    ck_assert_str_eq(cfg->file, "test.conf");
    ck_assert_uint_eq(cfg->nlisten, 1);
    ck_assert_str_eq(cfg->listen[0].address, "127.0.0.1");
    ck_assert_uint_eq(cfg->listen[0].port, 8080);
    ck_assert_int_eq(cfg->listen[0].backlog, 511);
    ck_assert_ptr_null(cfg->listen[0].tls);
    ck_assert_int_eq(cfg->listen[0].line, 1);
    ck_assert_ptr_null(cfg->module_dir);
    ck_assert_uint_eq(cfg->workers, 1);
    ck_assert_int_eq(cfg->log_level, LOG_INFO);
    ck_assert_int_eq(cfg->log_target, WSG_LOG_STDERR);
    assert_default_limits(&cfg->limits);

    ck_assert_uint_eq(cfg->nendpoints, 1);
    const struct wsg_endpoint_cfg *ep = &cfg->endpoints[0];
    ck_assert_str_eq(ep->path, "/echo");
    ck_assert_str_eq(ep->module, "echo");
    ck_assert_ptr_null(ep->options);
    ck_assert_ptr_null(ep->subprotocols);
    ck_assert_uint_eq(ep->nsubprotocols, 0);
    ck_assert(!ep->subprotocol_required);
    ck_assert_ptr_null(ep->allowed_origins);
    ck_assert_uint_eq(ep->norigins, 0);
    ck_assert_int_eq(ep->line, 2);
    assert_default_limits(&ep->limits);
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_embedded_default_serves_echo_and_broadcast_on_loopback_8080)
{
    err[0] = '\0';
    struct wsg_config *cfg = wsg_cfg_load_string(wsg_cfg_default_text(),
                                                 "(embedded default)", err, sizeof(err));
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->file, "(embedded default)");
    ck_assert_uint_eq(cfg->nlisten, 1);
    ck_assert_str_eq(cfg->listen[0].address, "127.0.0.1");
    ck_assert_uint_eq(cfg->listen[0].port, 8080);
    ck_assert_uint_eq(cfg->nendpoints, 2);
    ck_assert_ptr_nonnull(wsg_cfg_find_endpoint(cfg, "/echo", 5));
    ck_assert_str_eq(wsg_cfg_find_endpoint(cfg, "/echo", 5)->module, "echo");
    ck_assert_ptr_null(wsg_cfg_find_endpoint(cfg, "/echo/x", 7));
    assert_default_limits(&cfg->limits);

    /* /broadcast, its rooms taken from the path: /broadcast/lobby. */
    const struct wsg_endpoint_cfg *bc = wsg_cfg_find_endpoint(cfg, "/broadcast", 10);
    ck_assert_ptr_nonnull(bc);
    ck_assert_str_eq(bc->module, "broadcast");
    ck_assert_int_eq(bc->match, WSG_MATCH_PREFIX);
    ck_assert_ptr_eq(wsg_cfg_find_endpoint(cfg, "/broadcast/lobby", 16), bc);
    ck_assert_ptr_null(wsg_cfg_find_endpoint(cfg, "/broadcasts", 11));
    ck_assert_ptr_nonnull(bc->options);
    ck_assert_int_eq(config_setting_length(bc->options), 1);
    const char *room = NULL;
    ck_assert(config_setting_lookup_string(bc->options, "room", &room));
    ck_assert_str_eq(room, "path");
    assert_default_limits(&bc->limits);
    wsg_cfg_free(cfg);
}
END_TEST

static void assert_default_compression(const struct wsg_deflate_cfg *c);

/* The sample sets every key to its default: loading it must give exactly
 * the built-in defaults, so the documentation cannot drift from the code. */
START_TEST(test_sample_file_loads_and_documents_the_true_defaults)
{
    const char *path = TEST_SRCDIR "/etc/wsgated.conf";
    struct wsg_config *cfg = wsg_cfg_load_file(path, err, sizeof(err));
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->file, path);
    ck_assert_uint_eq(cfg->nlisten, 1);
    ck_assert_str_eq(cfg->listen[0].address, "127.0.0.1");
    ck_assert_uint_eq(cfg->listen[0].port, 8080);
    ck_assert_int_eq(cfg->listen[0].backlog, 511);
    ck_assert_ptr_null(cfg->listen[0].tls);
    ck_assert_ptr_null(cfg->module_dir);
    ck_assert_int_eq(cfg->log_level, LOG_INFO);
    ck_assert_int_eq(cfg->log_target, WSG_LOG_STDERR);
    assert_default_limits(&cfg->limits);
    ck_assert_ptr_null(cfg->metrics);
    ck_assert_ptr_null(cfg->access_log);
    ck_assert_uint_eq(cfg->nendpoints, 1);
    ck_assert_str_eq(cfg->endpoints[0].path, "/echo");
    assert_default_limits(&cfg->endpoints[0].limits);
    assert_default_compression(&cfg->compression);
    assert_default_compression(&cfg->endpoints[0].compression);
    wsg_cfg_free(cfg);
}
END_TEST

/* The sample's commented-out examples (a TLS listener, a fuller endpoint,
 * module_dir) are lines "# key = value;" and "# {", "# }", "# ,": with the
 * "# " taken off they must be a valid configuration too. */
static bool
is_commented_example(const char **line)
{
    const char *c = *line + strspn(*line, " ");
    if (strncmp(c, "# ", 2) != 0)
        return false;
    c += 2 + strspn(c + 2, " ");
    if (strncmp(c, "# ", 2) == 0)
        c += 2 + strspn(c + 2, " ");
    size_t key = strspn(c, "abcdefghijklmnopqrstuvwxyz_");
    if ((key > 0 && strncmp(c + key, " = ", 3) == 0) || strcmp(c, ",\n") == 0
        || strcmp(c, "{\n") == 0 || strcmp(c, "}\n") == 0 || strcmp(c, "};\n") == 0
        || strcmp(c, ");\n") == 0) {
        *line = c;
        return true;
    }
    return false;
}

static void make_tmpdir(void);
static void remove_tmpdir(const char *const *names, size_t n);
static char tmpdir[64];

START_TEST(test_sample_file_examples_are_valid_when_uncommented)
{
    FILE *in = fopen(TEST_SRCDIR "/etc/wsgated.conf", "r");
    ck_assert_ptr_nonnull(in);
    make_tmpdir();
    char path[128], line[512];
    snprintf(path, sizeof(path), "%s/full.conf", tmpdir);
    FILE *out = fopen(path, "w");
    ck_assert_ptr_nonnull(out);
    int uncommented = 0;
    while (fgets(line, sizeof(line), in) != NULL) {
        const char *l = line;
        uncommented += is_commented_example(&l);
        fputs(l, out);
    }
    fclose(in);
    fclose(out);

    struct wsg_config *cfg = wsg_cfg_load_file(path, err, sizeof(err));
    ck_assert_msg(cfg != NULL, "%s (%d lines uncommented)", err, uncommented);
    ck_assert_ptr_nonnull(cfg->module_dir);
    ck_assert_ptr_nonnull(cfg->metrics);
    ck_assert_uint_eq(cfg->metrics->port, 9100);
    ck_assert_str_eq(cfg->access_log, "/var/log/wsgated/access.log");
    ck_assert_uint_eq(cfg->nlisten, 2);
    ck_assert_ptr_nonnull(cfg->listen[1].tls);
    ck_assert(cfg->listen[1].tls->verify_client);
    ck_assert_uint_eq(cfg->listen[1].tls->nsni, 1);
    ck_assert_uint_eq(cfg->nendpoints, 3);
    const struct wsg_endpoint_cfg *bc = &cfg->endpoints[1];
    ck_assert_str_eq(bc->module, "broadcast");
    ck_assert_int_eq(bc->match, WSG_MATCH_PREFIX);
    ck_assert_ptr_nonnull(bc->options);
    ck_assert_int_eq(config_setting_length(bc->options), 7);
    const struct wsg_endpoint_cfg *ep = &cfg->endpoints[2];
    ck_assert_ptr_nonnull(ep->options);
    ck_assert_uint_gt(ep->nsubprotocols, 0);
    ck_assert_uint_gt(ep->norigins, 0);
    ck_assert(ep->subprotocol_required);
    ck_assert(ep->compression.enabled);
    ck_assert(ep->compression.server_no_context_takeover);
    ck_assert_uint_eq(ep->compression.client_max_window_bits, 12);
    wsg_cfg_free(cfg);
    remove_tmpdir((const char *[]){ "full.conf" }, 1);
}
END_TEST

START_TEST(test_free_null_is_a_no_op)
{
    wsg_cfg_free(NULL);
}
END_TEST

/* ---- every key read --------------------------------------------------- */

START_TEST(test_every_key_is_read_into_its_field)
{
    struct wsg_config *cfg = load_ok(
        "listen = (\n"
        "  { address = \"::1\"; port = 9000; backlog = 64;\n"
        "    tls = { certificate = \"c.pem\"; private_key = \"k.pem\";\n"
        "            ca_file = \"ca.pem\"; verify_client = true; }; }\n"
        ");\n"
        "module_dir = \"/opt/wsgate/modules\";\n"
        "log = { level = \"debug\"; target = \"syslog\"; };\n"
        "limits = { max_frame = \"64K\"; max_message = \"2M\"; max_connections = 5;\n"
        "  max_connections_per_ip = 3; handshake_timeout = 2.5; idle_timeout = 60;\n"
        "  ping_interval = 0; close_timeout = 1; output_high_watermark = 1000;\n"
        "  slow_consumer = \"drop\"; };\n"
        "endpoints = ( { path = \"/chat\"; module = \"broadcast\";\n"
        "  options = { room = \"lobby\"; };\n"
        "  subprotocols = [ \"chat.v2\", \"chat.v1\" ]; subprotocol_required = true;\n"
        "  allowed_origins = [ \"https://example.com\", \"null\" ]; } );\n");
    const struct wsg_listen_cfg *l = &cfg->listen[0];
    ck_assert_str_eq(l->address, "::1");
    ck_assert_uint_eq(l->port, 9000);
    ck_assert_int_eq(l->backlog, 64);
    ck_assert_int_eq(l->line, 2);
    ck_assert_ptr_nonnull(l->tls);
    ck_assert_str_eq(l->tls->certificate, "c.pem");
    ck_assert_str_eq(l->tls->private_key, "k.pem");
    ck_assert_str_eq(l->tls->ca_file, "ca.pem");
    ck_assert(l->tls->verify_client);
    ck_assert_int_eq(l->tls->line, 3);
    ck_assert_str_eq(cfg->module_dir, "/opt/wsgate/modules");
    ck_assert_int_eq(cfg->log_level, LOG_DEBUG);
    ck_assert_int_eq(cfg->log_target, WSG_LOG_SYSLOG);

    const struct wsg_limits *g = &cfg->limits;
    ck_assert_uint_eq(g->max_frame, 65536);
    ck_assert_uint_eq(g->max_message, 2 << 20);
    ck_assert_uint_eq(g->max_connections, 5);
    ck_assert_uint_eq(g->max_connections_per_ip, 3);
    ck_assert_uint_eq(g->handshake_timeout_ms, 2500);
    ck_assert_uint_eq(g->idle_timeout_ms, 60000);
    ck_assert_uint_eq(g->ping_interval_ms, 0);
    ck_assert_uint_eq(g->close_timeout_ms, 1000);
    ck_assert_uint_eq(g->output_high_watermark, 1000);
    ck_assert_int_eq(g->slow_policy, WSG_SLOW_DROP);

    const struct wsg_endpoint_cfg *ep = &cfg->endpoints[0];
    ck_assert_str_eq(ep->path, "/chat");
    ck_assert_str_eq(ep->module, "broadcast");
    ck_assert_ptr_nonnull(ep->options);
    const char *room = NULL;
    ck_assert(config_setting_lookup_string(ep->options, "room", &room));
    ck_assert_str_eq(room, "lobby");
    ck_assert_uint_eq(ep->nsubprotocols, 2);
    ck_assert_str_eq(ep->subprotocols[0], "chat.v2");
    ck_assert_str_eq(ep->subprotocols[1], "chat.v1");
    ck_assert(ep->subprotocol_required);
    ck_assert_uint_eq(ep->norigins, 2);
    ck_assert_str_eq(ep->allowed_origins[0], "https://example.com");
    ck_assert_str_eq(ep->allowed_origins[1], "null");
    ck_assert_int_eq(ep->line, 12);
    wsg_cfg_free(cfg);
}
END_TEST

/* ---- metrics, access log, rate limits ------------------------------------ */

START_TEST(test_metrics_access_log_and_rate_keys_are_read)
{
    struct wsg_config *cfg = load_ok(
        LISTEN ECHO
        "metrics = { address = \"::1\"; port = 9100; };\n"
        "log = { access_log = \"/var/log/wsgated/access.log\"; };\n"
        "limits = { connections_per_second_per_ip = 2.5; connections_burst_per_ip = 10;\n"
        "  max_tracked_addresses = 1000; messages_per_second = 100;\n"
        "  messages_burst = 200; rate_policy = \"drop\"; };\n");
    ck_assert_ptr_nonnull(cfg->metrics);
    ck_assert_str_eq(cfg->metrics->address, "::1");
    ck_assert_uint_eq(cfg->metrics->port, 9100);
    ck_assert_int_eq(cfg->metrics->line, 3);
    ck_assert_str_eq(cfg->access_log, "/var/log/wsgated/access.log");
    const struct wsg_limits *l = &cfg->limits;
    ck_assert(l->connections_per_second_per_ip == 2.5);
    ck_assert_uint_eq(l->connections_burst_per_ip, 10);
    ck_assert_uint_eq(l->max_tracked_addresses, 1000);
    ck_assert(l->messages_per_second == 100);
    ck_assert_uint_eq(l->messages_burst, 200);
    ck_assert_int_eq(l->rate_policy, WSG_RATE_DROP);
    /* The endpoint inherits the per-connection ones. */
    ck_assert(cfg->endpoints[0].limits.messages_per_second == 100);
    ck_assert_int_eq(cfg->endpoints[0].limits.rate_policy, WSG_RATE_DROP);
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_metrics_are_off_by_default_and_on_loopback_when_set)
{
    struct wsg_config *cfg = load_ok(LISTEN ECHO);
    ck_assert_ptr_null(cfg->metrics);
    ck_assert_ptr_null(cfg->access_log);
    wsg_cfg_free(cfg);
    cfg = load_ok(LISTEN ECHO "metrics = { port = 9100; };\n");
    ck_assert_str_eq(cfg->metrics->address, "127.0.0.1");
    wsg_cfg_free(cfg);
    cfg = load_ok(LISTEN ECHO "log = { access_log = \"syslog\"; };\n");
    ck_assert_str_eq(cfg->access_log, "syslog");
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_bad_metrics_settings_are_rejected)
{
    expect_error(LISTEN ECHO "metrics = { address = \"127.0.0.1\"; };\n",
                 "test.conf:3: missing required key \"port\" in metrics");
    expect_error(LISTEN ECHO "metrics = { port = 70000; };\n",
                 "test.conf:3: port must be between 1 and 65535, not 70000");
    expect_error(LISTEN ECHO "metrics = { port = 9100; address = \"localhost\"; };\n",
                 "test.conf:3: address \"localhost\" is not an IPv4 or IPv6 address");
    expect_error(LISTEN ECHO "metrics = 9100;\n",
                 "test.conf:3: metrics must be a group: metrics = { port = 9100; };");
    expect_error(LISTEN ECHO "metrics = { port = 9100; path = \"/m\"; };\n",
                 "test.conf:3: unknown key \"path\" in metrics (valid: address, port)");
    expect_error(LISTEN ECHO "metrics = {\n  port = 8080; };\n",
                 "test.conf:4: metrics port 8080 is a listen port (line 1): metrics "
                 "need a listener of their own");
}
END_TEST

START_TEST(test_bad_access_log_is_rejected)
{
    expect_error(LISTEN ECHO "log = { access_log = \"access.log\"; };\n",
                 "test.conf:3: access_log \"access.log\" must be \"syslog\" or an "
                 "absolute path");
    expect_error(LISTEN ECHO "log = { access_log = \"\"; };\n",
                 "test.conf:3: access_log must not be empty");
    expect_error(LISTEN ECHO "log = { access_log = true; };\n",
                 "test.conf:3: access_log must be a string");
}
END_TEST

START_TEST(test_bad_rate_limits_are_rejected)
{
    expect_error(LISTEN ECHO "limits = { connections_per_second_per_ip = -1; };\n",
                 "test.conf:3: connections_per_second_per_ip must be between 0 and "
                 "1000000 per second");
    expect_error(LISTEN ECHO "limits = { messages_per_second = \"fast\"; };\n",
                 "test.conf:3: messages_per_second must be a number per second");
    expect_error(LISTEN ECHO "limits = { rate_policy = \"ignore\"; };\n",
                 "test.conf:3: rate_policy must be one of \"close\", \"drop\", "
                 "not \"ignore\"");
    expect_error(LISTEN ECHO "limits = { max_tracked_addresses = 1; };\n",
                 "test.conf:3: max_tracked_addresses must be between 16 and 16777216, "
                 "not 1");
    expect_error(LISTEN ECHO "limits = { messages_burst = -5; };\n",
                 "test.conf:3: messages_burst must be between 0 and 1000000, not -5");
    expect_error(LISTEN
                 "endpoints = ( { path = \"/echo\"; module = \"echo\";\n"
                 "    limits = { connections_per_second_per_ip = 5; }; } );\n",
                 "test.conf:3: connections_per_second_per_ip is global only: "
                 "set it in the top-level limits");
}
END_TEST

START_TEST(test_workers_is_read_and_bounded)
{
    struct wsg_config *cfg = load_ok(LISTEN ECHO "workers = 8;\n");
    ck_assert_uint_eq(cfg->workers, 8);
    struct wsg_config *next = load_ok(LISTEN ECHO);
    ck_assert_uint_gt(next->generation, cfg->generation);
    wsg_cfg_free(next);
    wsg_cfg_free(cfg);
    expect_error(LISTEN ECHO "workers = 0;\n",
                 "test.conf:3: workers must be between 1 and 64, not 0");
    expect_error(LISTEN ECHO "workers = 65;\n",
                 "test.conf:3: workers must be between 1 and 64, not 65");
    expect_error(LISTEN ECHO "workers = \"many\";\n",
                 "test.conf:3: workers must be an integer or \"auto\"");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg = load_ok(LISTEN ECHO "workers = \"auto\";\n");
    ck_assert_uint_eq(cfg->workers, cpus < 1 ? 1 : cpus > 64 ? 64 : (unsigned)cpus);
    wsg_cfg_free(cfg);
}
END_TEST

/* ---- unknown keys ----------------------------------------------------- */

START_TEST(test_unknown_top_level_key_is_rejected_with_valid_keys)
{
    expect_error(LISTEN ECHO "listen_port = 80;\n",
                 "test.conf:3: unknown key \"listen_port\" at top level "
                 "(valid: listen, module_dir, workers, user, group, trusted_proxies, log, limits, "
                 "compression, endpoints, metrics)");
}
END_TEST

START_TEST(test_unknown_limit_key_is_rejected_with_line)
{
    expect_error(LISTEN ECHO
                 "limits = {\n"
                 "    max_frames = 10;\n"
                 "};\n",
                 "test.conf:4: unknown key \"max_frames\" in limits (valid: max_frame, "
                 "max_message, max_connections, max_connections_per_ip, handshake_timeout, "
                 "idle_timeout, ping_interval, close_timeout, output_high_watermark, "
                 "slow_consumer, connections_per_second_per_ip, connections_burst_per_ip, "
                 "max_tracked_addresses, messages_per_second, messages_burst, rate_policy)");
}
END_TEST

START_TEST(test_unknown_endpoint_limit_key_lists_only_endpoint_keys)
{
    expect_error(LISTEN
                 "endpoints = ( { path = \"/echo\"; module = \"echo\";\n"
                 "    limits = { idle = 5; }; } );\n",
                 "test.conf:3: unknown key \"idle\" in endpoint limits (valid: max_frame, "
                 "max_message, max_connections, idle_timeout, ping_interval, close_timeout, "
                 "output_high_watermark, slow_consumer, messages_per_second, "
                 "messages_burst, rate_policy)");
}
END_TEST

START_TEST(test_global_only_limits_are_rejected_in_an_endpoint)
{
    expect_error(LISTEN
                 "endpoints = ( { path = \"/echo\"; module = \"echo\";\n"
                 "    limits = { max_connections_per_ip = 5; }; } );\n",
                 "test.conf:3: max_connections_per_ip is global only: "
                 "set it in the top-level limits");
    expect_error(LISTEN
                 "endpoints = ( { path = \"/echo\"; module = \"echo\";\n"
                 "    limits = { handshake_timeout = 5; }; } );\n",
                 "test.conf:3: handshake_timeout is global only: "
                 "set it in the top-level limits");
}
END_TEST

START_TEST(test_unknown_keys_in_every_group_are_rejected)
{
    expect_error("listen = ( { port = 80; adress = \"::\"; } );\n" ECHO,
                 "test.conf:1: unknown key \"adress\" in listen "
                 "(valid: address, port, backlog, tls)");
    expect_error("listen = ( { port = 80;\n"
                 "  tls = { certificate = \"c\"; private_key = \"k\"; cert = \"x\"; }; } );\n"
                 ECHO,
                 "test.conf:2: unknown key \"cert\" in listen.tls "
                 "(valid: certificate, private_key, ca_file, verify_client, sni)");
    expect_error(LISTEN ECHO "log = { facility = \"daemon\"; };\n",
                 "test.conf:3: unknown key \"facility\" in log (valid: level, target, "
                 "access_log)");
    expect_error(LISTEN "endpoints = ( { path = \"/e\"; module = \"echo\"; origins = []; } );\n",
                 "test.conf:2: unknown key \"origins\" in endpoints (valid: path, match, module, "
                 "options, subprotocols, subprotocol_required, allowed_origins, limits, "
                 "compression)");
}
END_TEST

START_TEST(test_options_may_hold_any_keys_for_the_module)
{
    struct wsg_config *cfg = load_ok(LISTEN
        "endpoints = ( { path = \"/e\"; module = \"echo\";\n"
        "  options = { anything = 1; nested = { deep = [ 1, 2 ]; }; }; } );\n");
    const config_setting_t *o = cfg->endpoints[0].options;
    ck_assert_ptr_nonnull(o);
    int v = 0;
    ck_assert(config_setting_lookup_int(o, "anything", &v));
    ck_assert_int_eq(v, 1);
    ck_assert_ptr_nonnull(config_setting_get_member(o, "nested"));
    wsg_cfg_free(cfg);
}
END_TEST

/* ---- required keys and lists ------------------------------------------ */

START_TEST(test_missing_listen_or_endpoints_is_rejected)
{
    expect_error(ECHO, "test.conf:1: missing required key \"listen\" at top level");
    expect_error(LISTEN, "test.conf:1: missing required key \"endpoints\" at top level");
}
END_TEST

START_TEST(test_empty_listen_or_endpoints_list_is_rejected)
{
    expect_error("listen = ( );\n" ECHO, "test.conf:1: listen must have at least one entry");
    expect_error(LISTEN "\nendpoints = ( );\n",
                 "test.conf:3: endpoints must have at least one entry");
}
END_TEST

START_TEST(test_listen_must_be_a_list_of_groups)
{
    expect_error("listen = { port = 80; };\n" ECHO,
                 "test.conf:1: listen must be a list of groups: listen = ( { ... }, ... );");
    expect_error("listen = ( { port = 80; },\n  \"x\" );\n" ECHO,
                 "test.conf:2: listen entries must be groups { ... }");
    expect_error(LISTEN "endpoints = [ \"/echo\" ];\n",
                 "test.conf:2: endpoints must be a list of groups: endpoints = ( { ... }, ... );");
}
END_TEST

START_TEST(test_missing_required_keys_are_reported_at_their_group)
{
    expect_error("listen = (\n  { address = \"::\"; }\n);\n" ECHO,
                 "test.conf:2: missing required key \"port\" in listen");
    expect_error(LISTEN "endpoints = (\n  { module = \"echo\"; }\n);\n",
                 "test.conf:3: missing required key \"path\" in endpoints");
    expect_error(LISTEN "endpoints = (\n  { path = \"/e\"; }\n);\n",
                 "test.conf:3: missing required key \"module\" in endpoints");
    expect_error("listen = ( { port = 443;\n  tls = { certificate = \"c.pem\"; }; } );\n" ECHO,
                 "test.conf:2: missing required key \"private_key\" in listen.tls");
}
END_TEST

/* ---- listen ----------------------------------------------------------- */

START_TEST(test_ipv4_and_ipv6_literals_are_accepted)
{
    struct wsg_config *cfg = load_ok(
        "listen = ( { address = \"0.0.0.0\"; port = 1; }, { address = \"::\"; port = 2; },\n"
        "  { address = \"fe80::1:2\"; port = 65535; } );\n" ECHO);
    ck_assert_uint_eq(cfg->nlisten, 3);
    ck_assert_str_eq(cfg->listen[1].address, "::");
    ck_assert_uint_eq(cfg->listen[2].port, 65535);
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_host_names_and_bad_addresses_are_rejected)
{
    expect_error("listen = ( { address = \"localhost\"; port = 80; } );\n" ECHO,
                 "test.conf:1: address \"localhost\" is not an IPv4 or IPv6 address");
    expect_error("listen = ( { address = \"1.2.3.256\"; port = 80; } );\n" ECHO,
                 "test.conf:1: address \"1.2.3.256\" is not an IPv4 or IPv6 address");
    expect_error("listen = ( { address = \"[::1]\"; port = 80; } );\n" ECHO,
                 "test.conf:1: address \"[::1]\" is not an IPv4 or IPv6 address");
    expect_error("listen = ( { address = \"\"; port = 80; } );\n" ECHO,
                 "test.conf:1: address must not be empty");
    expect_error("listen = ( { address = 127; port = 80; } );\n" ECHO,
                 "test.conf:1: address must be a string");
}
END_TEST

START_TEST(test_port_out_of_range_or_not_an_integer_is_rejected)
{
    expect_error("listen = ( {\n  port = 0; } );\n" ECHO,
                 "test.conf:2: port must be between 1 and 65535, not 0");
    expect_error("listen = ( {\n  port = 65536; } );\n" ECHO,
                 "test.conf:2: port must be between 1 and 65535, not 65536");
    expect_error("listen = ( {\n  port = \"8080\"; } );\n" ECHO,
                 "test.conf:2: port must be an integer");
    expect_error("listen = ( {\n  port = 80.0; } );\n" ECHO,
                 "test.conf:2: port must be an integer");
}
END_TEST

START_TEST(test_backlog_must_be_positive)
{
    expect_error("listen = ( { port = 80; backlog = 0; } );\n" ECHO,
                 "test.conf:1: backlog must be between 1 and 2147483647, not 0");
}
END_TEST

START_TEST(test_verify_client_needs_a_ca_file)
{
    expect_error("listen = ( { port = 443; tls = { certificate = \"c\"; private_key = \"k\";\n"
                 "  verify_client = true; }; } );\n" ECHO,
                 "test.conf:2: verify_client needs ca_file, the CA that signs "
                 "client certificates");
}
END_TEST

START_TEST(test_bool_keys_reject_strings)
{
    expect_error("listen = ( { port = 443; tls = { certificate = \"c\"; private_key = \"k\";\n"
                 "  ca_file = \"ca\"; verify_client = \"yes\"; }; } );\n" ECHO,
                 "test.conf:2: verify_client must be true or false");
}
END_TEST

START_TEST(test_tls_sni_certificates_are_listed_in_order)
{
    struct wsg_config *cfg = load_ok(
        "listen = ( { port = 443; tls = { certificate = \"c\"; private_key = \"k\";\n"
        "  sni = ( { certificate = \"a.pem\"; private_key = \"a.key\"; },\n"
        "          { certificate = \"b.pem\"; private_key = \"b.key\"; } ); }; } );\n" ECHO);
    const struct wsg_tls_cfg *tls = cfg->listen[0].tls;
    ck_assert_uint_eq(tls->nsni, 2);
    ck_assert_str_eq(tls->sni[0].certificate, "a.pem");
    ck_assert_str_eq(tls->sni[1].private_key, "b.key");
    ck_assert_int_eq(tls->sni[1].line, 3);
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_tls_sni_entry_needs_a_key_and_known_keys_only)
{
    expect_error("listen = ( { port = 443; tls = { certificate = \"c\"; private_key = \"k\";\n"
                 "  sni = ( { certificate = \"a.pem\"; } ); }; } );\n" ECHO,
                 "test.conf:2: missing required key \"private_key\" in listen.tls.sni");
    expect_error("listen = ( { port = 443; tls = { certificate = \"c\"; private_key = \"k\";\n"
                 "  sni = ( { certificate = \"a\"; private_key = \"b\"; names = []; } ); }; } );\n"
                 ECHO,
                 "test.conf:2: unknown key \"names\" in listen.tls.sni "
                 "(valid: certificate, private_key)");
}
END_TEST

START_TEST(test_tls_must_be_a_group)
{
    expect_error("listen = ( { port = 443; tls = true; } );\n" ECHO,
                 "test.conf:1: tls must be a group: tls = { ... };");
}
END_TEST

START_TEST(test_duplicate_listen_address_and_port_is_rejected)
{
    expect_error("listen = (\n"
                 "  { port = 8080; },\n"
                 "  { address = \"127.0.0.1\"; port = 8080; }\n"
                 ");\n" ECHO,
                 "test.conf:3: listen 127.0.0.1:8080 already used at line 2");
    /* Compared as addresses, not as strings. */
    expect_error("listen = (\n"
                 "  { address = \"::1\"; port = 8080; },\n"
                 "  { address = \"0:0::1\"; port = 8080; }\n"
                 ");\n" ECHO,
                 "test.conf:3: listen [0:0::1]:8080 already used at line 2");
}
END_TEST

START_TEST(test_same_port_on_different_addresses_is_accepted)
{
    struct wsg_config *cfg = load_ok(
        "listen = ( { address = \"127.0.0.1\"; port = 80; },\n"
        "  { address = \"::1\"; port = 80; }, { address = \"127.0.0.1\"; port = 81; } );\n"
        ECHO);
    ck_assert_uint_eq(cfg->nlisten, 3);
    wsg_cfg_free(cfg);
}
END_TEST

/* ---- sizes -------------------------------------------------------------- */

static uint64_t
max_frame_of(const char *value)
{
    char text[256];
    snprintf(text, sizeof(text),
             LISTEN ECHO "limits = { max_message = \"1G\"; max_frame = %s; };\n", value);
    struct wsg_config *cfg = load_ok(text);
    uint64_t v = cfg->limits.max_frame;
    wsg_cfg_free(cfg);
    return v;
}

START_TEST(test_sizes_take_bytes_or_binary_units_in_any_case)
{
    ck_assert_uint_eq(max_frame_of("1"), 1);
    ck_assert_uint_eq(max_frame_of("1000"), 1000);
    ck_assert_uint_eq(max_frame_of("\"1000\""), 1000);
    ck_assert_uint_eq(max_frame_of("\"64K\""), 65536);
    ck_assert_uint_eq(max_frame_of("\"64k\""), 65536);
    ck_assert_uint_eq(max_frame_of("\"16M\""), 16u << 20);
    ck_assert_uint_eq(max_frame_of("\"16m\""), 16u << 20);
    ck_assert_uint_eq(max_frame_of("\"1G\""), 1u << 30);
    ck_assert_uint_eq(max_frame_of("\"1g\""), 1u << 30);
}
END_TEST

START_TEST(test_sizes_above_32_bits_work_as_strings_and_int64)
{
    struct wsg_config *cfg = load_ok(LISTEN ECHO
        "limits = { max_message = \"8G\"; output_high_watermark = 6442450944L; };\n");
    ck_assert_uint_eq(cfg->limits.max_message, UINT64_C(8) << 30);
    ck_assert_uint_eq(cfg->limits.output_high_watermark, UINT64_C(6) << 30);
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_malformed_sizes_are_rejected)
{
    static const char *bad[] = {
        "\"1.5M\"", "\"64KB\"", "\"K\"", "\"-1\"", "\" 64K\"", "\"64 K\"", "\"64T\"",
        "\"0x10\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256], want[256];
        snprintf(text, sizeof(text), LISTEN ECHO "limits = { max_frame = %s; };\n", bad[i]);
        snprintf(want, sizeof(want), "test.conf:3: max_frame %s is not a size: use bytes "
                 "or a whole number with K, M or G", bad[i]);
        expect_error(text, want);
    }
}
END_TEST

START_TEST(test_zero_negative_and_overflowing_sizes_are_rejected)
{
    expect_error(LISTEN ECHO "limits = { max_frame = 0; };\n",
                 "test.conf:3: max_frame must be greater than 0, not 0");
    expect_error(LISTEN ECHO "limits = { max_frame = -5; };\n",
                 "test.conf:3: max_frame must be greater than 0, not -5");
    expect_error(LISTEN ECHO "limits = { max_frame = \"0K\"; };\n",
                 "test.conf:3: max_frame must be greater than 0");
    expect_error(LISTEN ECHO "limits = { max_message = \"99999999999999999999\"; };\n",
                 "test.conf:3: max_message \"99999999999999999999\" is too large");
    expect_error(LISTEN ECHO "limits = { max_message = \"17179869184G\"; };\n",
                 "test.conf:3: max_message \"17179869184G\" is too large");
}
END_TEST

START_TEST(test_sizes_reject_floats_and_bools)
{
    const char *want = "test.conf:3: max_frame must be a size: a number of bytes or a "
                       "string such as \"64K\", \"16M\", \"1G\"";
    expect_error(LISTEN ECHO "limits = { max_frame = 1.5; };\n", want);
    expect_error(LISTEN ECHO "limits = { max_frame = true; };\n", want);
}
END_TEST

/* ---- times ------------------------------------------------------------ */

static uint32_t
idle_ms_of(const char *value)
{
    char text[256];
    snprintf(text, sizeof(text), LISTEN ECHO "limits = { idle_timeout = %s; };\n", value);
    struct wsg_config *cfg = load_ok(text);
    uint32_t v = cfg->limits.idle_timeout_ms;
    wsg_cfg_free(cfg);
    return v;
}

START_TEST(test_times_are_seconds_with_fractions_stored_in_ms)
{
    ck_assert_uint_eq(idle_ms_of("0"), 0);
    ck_assert_uint_eq(idle_ms_of("0.0"), 0);
    ck_assert_uint_eq(idle_ms_of("10"), 10000);
    ck_assert_uint_eq(idle_ms_of("0.5"), 500);
    ck_assert_uint_eq(idle_ms_of("1.25"), 1250);
    ck_assert_uint_eq(idle_ms_of("0.0015"), 2);   /* rounded to the nearest ms */
    ck_assert_uint_eq(idle_ms_of("10L"), 10000);
    ck_assert_uint_eq(idle_ms_of("4294967"), 4294967000u);
}
END_TEST

START_TEST(test_negative_or_huge_times_are_rejected)
{
    expect_error(LISTEN ECHO "limits = { ping_interval = -1; };\n",
                 "test.conf:3: ping_interval must not be negative");
    expect_error(LISTEN ECHO "limits = { ping_interval = -0.5; };\n",
                 "test.conf:3: ping_interval must not be negative");
    expect_error(LISTEN ECHO "limits = { idle_timeout = 4294968; };\n",
                 "test.conf:3: idle_timeout must be at most 4294967 seconds");
    expect_error(LISTEN ECHO "limits = { idle_timeout = 1e300; };\n",
                 "test.conf:3: idle_timeout must be at most 4294967 seconds");
    expect_error(LISTEN ECHO "limits = { idle_timeout = \"10s\"; };\n",
                 "test.conf:3: idle_timeout must be a number of seconds");
}
END_TEST

START_TEST(test_handshake_and_close_timeouts_must_be_positive)
{
    expect_error(LISTEN ECHO "limits = { handshake_timeout = 0; };\n",
                 "test.conf:3: handshake_timeout must be greater than 0 seconds");
    expect_error(LISTEN ECHO "limits = { close_timeout = 0.0; };\n",
                 "test.conf:3: close_timeout must be greater than 0 seconds");
    expect_error(LISTEN ECHO "limits = { close_timeout = 0.0001; };\n",
                 "test.conf:3: close_timeout must be greater than 0 seconds");
}
END_TEST

/* ---- other limits, log ------------------------------------------------ */

START_TEST(test_connection_counts_take_zero_but_not_negatives)
{
    struct wsg_config *cfg = load_ok(LISTEN ECHO
        "limits = { max_connections = 0; max_connections_per_ip = 0; };\n");
    ck_assert_uint_eq(cfg->limits.max_connections, 0);
    wsg_cfg_free(cfg);
    expect_error(LISTEN ECHO "limits = { max_connections = -1; };\n",
                 "test.conf:3: max_connections must be between 0 and 4294967295, not -1");
    expect_error(LISTEN ECHO "limits = { max_connections_per_ip = \"10\"; };\n",
                 "test.conf:3: max_connections_per_ip must be an integer");
}
END_TEST

START_TEST(test_slow_consumer_policy_names_are_checked)
{
    expect_error(LISTEN ECHO "limits = { slow_consumer = \"DROP\"; };\n",
                 "test.conf:3: slow_consumer must be one of \"close\", \"drop\", not \"DROP\"");
    expect_error(LISTEN ECHO "limits = { slow_consumer = 1; };\n",
                 "test.conf:3: slow_consumer must be one of \"close\", \"drop\"");
}
END_TEST

START_TEST(test_log_levels_map_to_syslog_levels)
{
    static const struct { const char *name; int level; } levels[] = {
        { "error", LOG_ERR }, { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
        { "info", LOG_INFO }, { "debug", LOG_DEBUG },
    };
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), LISTEN ECHO "log = { level = \"%s\"; };\n",
                 levels[i].name);
        struct wsg_config *cfg = load_ok(text);
        ck_assert_int_eq(cfg->log_level, levels[i].level);
        wsg_cfg_free(cfg);
    }
}
END_TEST

START_TEST(test_bad_log_level_and_target_list_the_valid_names)
{
    expect_error(LISTEN ECHO "log = { level = \"warn\"; };\n",
                 "test.conf:3: level must be one of \"error\", \"warning\", \"notice\", "
                 "\"info\", \"debug\", not \"warn\"");
    expect_error(LISTEN ECHO "log = { target = \"file\"; };\n",
                 "test.conf:3: target must be one of \"stderr\", \"syslog\", not \"file\"");
}
END_TEST

START_TEST(test_groups_and_strings_of_the_wrong_type_are_rejected)
{
    expect_error(LISTEN ECHO "limits = ( );\n",
                 "test.conf:3: limits must be a group: limits = { ... };");
    expect_error(LISTEN ECHO "log = \"debug\";\n",
                 "test.conf:3: log must be a group: log = { ... };");
    expect_error(LISTEN ECHO "module_dir = 5;\n", "test.conf:3: module_dir must be a string");
    expect_error(LISTEN ECHO "module_dir = \"\";\n", "test.conf:3: module_dir must not be empty");
    expect_error(LISTEN "endpoints = ( { path = \"/e\"; module = \"echo\";\n"
                 "  options = \"fast\"; } );\n",
                 "test.conf:3: options must be a group: options = { ... };");
}
END_TEST

/* ---- max_frame vs max_message, inheritance ---------------------------- */

START_TEST(test_max_frame_above_max_message_is_rejected)
{
    expect_error(LISTEN ECHO
                 "limits = {\n"
                 "  max_message = \"64K\";\n"
                 "  max_frame = \"1M\";\n"
                 "};\n",
                 "test.conf:5: max_frame (1048576) is larger than max_message (65536)");
}
END_TEST

START_TEST(test_endpoint_max_message_below_inherited_max_frame_is_rejected)
{
    expect_error(LISTEN
                 "endpoints = ( { path = \"/e\"; module = \"echo\";\n"
                 "  limits = {\n"
                 "    max_message = 1000; }; } );\n",
                 "test.conf:4: max_frame (1048576) is larger than max_message (1000)");
}
END_TEST

START_TEST(test_equal_max_frame_and_max_message_is_accepted)
{
    struct wsg_config *cfg = load_ok(LISTEN ECHO
        "limits = { max_frame = \"64K\"; max_message = 65536; };\n");
    ck_assert_uint_eq(cfg->limits.max_frame, cfg->limits.max_message);
    wsg_cfg_free(cfg);
}
END_TEST

/* The endpoint list comes before the global limits in the file: the
 * endpoints still start from the global values, not the built-in ones. */
START_TEST(test_endpoint_limits_inherit_global_ones_whatever_the_order)
{
    struct wsg_config *cfg = load_ok(LISTEN
        "endpoints = ( { path = \"/a\"; module = \"echo\"; },\n"
        "  { path = \"/b\"; module = \"echo\"; limits = { idle_timeout = 7; }; } );\n"
        "limits = { idle_timeout = 60; max_frame = \"4K\"; slow_consumer = \"drop\"; };\n");
    const struct wsg_limits *a = &cfg->endpoints[0].limits, *b = &cfg->endpoints[1].limits;
    ck_assert_uint_eq(a->idle_timeout_ms, 60000);
    ck_assert_uint_eq(a->max_frame, 4096);
    ck_assert_int_eq(a->slow_policy, WSG_SLOW_DROP);
    ck_assert_uint_eq(b->idle_timeout_ms, 7000);
    ck_assert_uint_eq(b->max_frame, 4096);
    ck_assert_int_eq(b->slow_policy, WSG_SLOW_DROP);
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_endpoint_override_changes_only_that_endpoint)
{
    struct wsg_config *cfg = load_ok(LISTEN
        "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
        "    limits = { max_message = \"64K\"; max_frame = \"64K\"; max_connections = 2;\n"
        "               ping_interval = 0; close_timeout = 1; slow_consumer = \"drop\";\n"
        "               output_high_watermark = \"1M\"; }; },\n"
        "  { path = \"/b\"; module = \"echo\"; } );\n");
    const struct wsg_limits *a = &cfg->endpoints[0].limits;
    ck_assert_uint_eq(a->max_message, 65536);
    ck_assert_uint_eq(a->max_frame, 65536);
    ck_assert_uint_eq(a->max_connections, 2);
    ck_assert_uint_eq(a->ping_interval_ms, 0);
    ck_assert_uint_eq(a->close_timeout_ms, 1000);
    ck_assert_int_eq(a->slow_policy, WSG_SLOW_DROP);
    ck_assert_uint_eq(a->output_high_watermark, 1u << 20);
    ck_assert_uint_eq(a->handshake_timeout_ms, 10000);   /* global only: inherited */
    assert_default_limits(&cfg->endpoints[1].limits);
    assert_default_limits(&cfg->limits);
    wsg_cfg_free(cfg);
}
END_TEST

/* ---- endpoints -------------------------------------------------------- */

START_TEST(test_endpoint_paths_must_be_request_paths)
{
    expect_error(LISTEN "endpoints = ( { path = \"echo\"; module = \"echo\"; } );\n",
                 "test.conf:2: path \"echo\" must start with \"/\"");
    expect_error(LISTEN "endpoints = ( { path = \"/echo?x=1\"; module = \"echo\"; } );\n",
                 "test.conf:2: path \"/echo?x=1\" must not contain \"?\" or \"#\": "
                 "the query is not part of the path");
    expect_error(LISTEN "endpoints = ( { path = \"/echo#top\"; module = \"echo\"; } );\n",
                 "test.conf:2: path \"/echo#top\" must not contain \"?\" or \"#\": "
                 "the query is not part of the path");
    expect_error(LISTEN "endpoints = ( { path = \"/my echo\"; module = \"echo\"; } );\n",
                 "test.conf:2: path \"/my echo\" must not contain spaces or control characters");
    expect_error(LISTEN "endpoints = ( { path = \"\"; module = \"echo\"; } );\n",
                 "test.conf:2: path must not be empty");
}
END_TEST

START_TEST(test_module_names_are_lowercase_file_names)
{
    static const char *bad[] = { "Echo", "../echo", "a/b", "echo.so", "é" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256], want[256];
        snprintf(text, sizeof(text),
                 LISTEN "endpoints = ( { path = \"/e\"; module = \"%s\"; } );\n", bad[i]);
        snprintf(want, sizeof(want), "test.conf:2: module \"%s\" may only contain "
                 "a-z, 0-9, \"_\" and \"-\"", bad[i]);
        expect_error(text, want);
    }
    struct wsg_config *cfg = load_ok(LISTEN
        "endpoints = ( { path = \"/e\"; module = \"my_mod-2\"; } );\n");
    ck_assert_str_eq(cfg->endpoints[0].module, "my_mod-2");
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_duplicate_endpoint_path_is_rejected_with_both_lines)
{
    expect_error(LISTEN
                 "endpoints = (\n"
                 "  { path = \"/echo\"; module = \"echo\"; },\n"
                 "  { path = \"/chat\"; module = \"broadcast\"; },\n"
                 "  {\n"
                 "    path = \"/echo\";\n"
                 "    module = \"broadcast\";\n"
                 "  }\n"
                 ");\n",
                 "test.conf:6: endpoint path \"/echo\" already used at line 3");
}
END_TEST

START_TEST(test_subprotocols_may_be_an_array_or_a_list)
{
    struct wsg_config *cfg = load_ok(LISTEN
        "endpoints = ( { path = \"/a\"; module = \"echo\"; subprotocols = [ \"x\" ]; },\n"
        "  { path = \"/b\"; module = \"echo\"; subprotocols = ( \"v2.chat\", \"v1\" ); },\n"
        "  { path = \"/c\"; module = \"echo\"; subprotocols = [ ]; } );\n");
    ck_assert_uint_eq(cfg->endpoints[0].nsubprotocols, 1);
    ck_assert_str_eq(cfg->endpoints[0].subprotocols[0], "x");
    ck_assert_uint_eq(cfg->endpoints[1].nsubprotocols, 2);
    ck_assert_str_eq(cfg->endpoints[1].subprotocols[0], "v2.chat");
    ck_assert_str_eq(cfg->endpoints[1].subprotocols[1], "v1");
    ck_assert_uint_eq(cfg->endpoints[2].nsubprotocols, 0);
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_subprotocols_must_be_distinct_tokens)
{
    expect_error(LISTEN "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
                 "  subprotocols = [ \"chat\",\n"
                 "    \"chat\" ]; } );\n",
                 "test.conf:4: subprotocols lists \"chat\" twice (also at line 3)");
    expect_error(LISTEN "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
                 "  subprotocols = [ \"chat v1\" ]; } );\n",
                 "test.conf:3: subprotocols entry \"chat v1\" is not a token "
                 "(letters, digits and !#$%&'*+-.^_`|~ only)");
    expect_error(LISTEN "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
                 "  subprotocols = [ \"a,b\" ]; } );\n",
                 "test.conf:3: subprotocols entry \"a,b\" is not a token "
                 "(letters, digits and !#$%&'*+-.^_`|~ only)");
    expect_error(LISTEN "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
                 "  subprotocols = [ \"\" ]; } );\n",
                 "test.conf:3: subprotocols entries must not be empty");
    expect_error(LISTEN "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
                 "  subprotocols = ( \"a\",\n  1 ); } );\n",
                 "test.conf:4: subprotocols entries must be strings");
    expect_error(LISTEN "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
                 "  subprotocols = \"chat\"; } );\n",
                 "test.conf:3: subprotocols must be an array of strings: [ \"a\", \"b\" ]");
}
END_TEST

START_TEST(test_subprotocol_required_needs_subprotocols)
{
    const char *want = "test.conf:3: subprotocol_required is true but subprotocols is "
                       "empty: every client would be refused";
    expect_error(LISTEN "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
                 "  subprotocol_required = true; } );\n", want);
    expect_error(LISTEN "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
                 "  subprotocol_required = true; subprotocols = []; } );\n", want);
    struct wsg_config *cfg = load_ok(LISTEN "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
                                     "  subprotocol_required = false; } );\n");
    ck_assert(!cfg->endpoints[0].subprotocol_required);
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_allowed_origins_must_be_origins)
{
    struct wsg_config *cfg = load_ok(LISTEN "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
        "  allowed_origins = ( \"https://example.com:8443\", \"http://[::1]:80\", \"null\" ); } );\n");
    ck_assert_uint_eq(cfg->endpoints[0].norigins, 3);
    ck_assert_str_eq(cfg->endpoints[0].allowed_origins[1], "http://[::1]:80");
    wsg_cfg_free(cfg);
    expect_error(LISTEN "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
                 "  allowed_origins = [ \"example.com\" ]; } );\n",
                 "test.conf:3: allowed_origins entry \"example.com\" must be \"null\" "
                 "or scheme://host[:port]");
    expect_error(LISTEN "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
                 "  allowed_origins = [ \"https://example.com/\" ]; } );\n",
                 "test.conf:3: allowed_origins entry \"https://example.com/\" must be "
                 "scheme://host[:port], with no path");
    expect_error(LISTEN "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
                 "  allowed_origins = [ \"https://a.example\", \"https://a.example\" ]; } );\n",
                 "test.conf:3: allowed_origins lists \"https://a.example\" twice "
                 "(also at line 3)");
}
END_TEST

/* ---- wsg_cfg_find_endpoint --------------------------------------------- */

START_TEST(test_find_endpoint_compares_the_given_length_only)
{
    struct wsg_config *cfg = load_ok(LISTEN
        "endpoints = ( { path = \"/echo\"; module = \"echo\"; },\n"
        "  { path = \"/\"; module = \"root\"; } );\n");
    const char *target = "/echo?x=1";
    ck_assert_ptr_eq(wsg_cfg_find_endpoint(cfg, target, 5), &cfg->endpoints[0]);
    ck_assert_ptr_eq(wsg_cfg_find_endpoint(cfg, target, 1), &cfg->endpoints[1]);
    ck_assert_ptr_null(wsg_cfg_find_endpoint(cfg, target, 4));
    ck_assert_ptr_null(wsg_cfg_find_endpoint(cfg, target, 6));
    ck_assert_ptr_null(wsg_cfg_find_endpoint(cfg, "/echoes", 7));
    ck_assert_ptr_null(wsg_cfg_find_endpoint(cfg, "", 0));
    ck_assert_ptr_null(wsg_cfg_find_endpoint(NULL, "/echo", 5));
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_prefix_endpoint_serves_paths_below_it_and_exact_wins)
{
    struct wsg_config *cfg = load_ok(LISTEN
        "endpoints = ( { path = \"/broadcast\"; module = \"broadcast\"; match = \"prefix\"; },\n"
        "  { path = \"/broadcast/admin\"; module = \"echo\"; },\n"
        "  { path = \"/broadcast/big\"; module = \"echo\"; match = \"prefix\"; },\n"
        "  { path = \"/echo\"; module = \"echo\"; } );\n");
    ck_assert_int_eq(cfg->endpoints[0].match, WSG_MATCH_PREFIX);
    ck_assert_int_eq(cfg->endpoints[3].match, WSG_MATCH_EXACT);
    ck_assert_ptr_eq(wsg_cfg_find_endpoint(cfg, "/broadcast", 10), &cfg->endpoints[0]);
    ck_assert_ptr_eq(wsg_cfg_find_endpoint(cfg, "/broadcast/lobby", 16), &cfg->endpoints[0]);
    ck_assert_ptr_eq(wsg_cfg_find_endpoint(cfg, "/broadcast/admin", 16), &cfg->endpoints[1]);
    ck_assert_ptr_eq(wsg_cfg_find_endpoint(cfg, "/broadcast/admin/x", 18), &cfg->endpoints[0]);
    ck_assert_ptr_eq(wsg_cfg_find_endpoint(cfg, "/broadcast/big/room", 19), &cfg->endpoints[2]);
    ck_assert_ptr_null(wsg_cfg_find_endpoint(cfg, "/broadcasts", 11));
    ck_assert_ptr_null(wsg_cfg_find_endpoint(cfg, "/echo/x", 7));
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_unknown_match_mode_is_rejected)
{
    expect_error(LISTEN "endpoints = ( { path = \"/a\"; module = \"echo\";\n"
                 "  match = \"regex\"; } );\n",
                 "test.conf:3: match must be one of \"exact\", \"prefix\", not \"regex\"");
}
END_TEST

/* ---- parse errors, files, @include ------------------------------------- */

START_TEST(test_parse_error_names_the_string_config_and_line)
{
    expect_error(LISTEN "endpoints = ( { path = ; module = \"echo\"; } );\n",
                 "test.conf:2: syntax error");
}
END_TEST

START_TEST(test_duplicate_key_in_a_group_is_a_parse_error)
{
    expect_error(LISTEN ECHO "limits = { max_frame = 1;\n  max_frame = 2; };\n",
                 "test.conf:4: duplicate setting name");
}
END_TEST

START_TEST(test_tiny_error_buffers_are_truncated_not_overrun)
{
    char small[9];
    memset(small, 'x', sizeof(small));
    ck_assert_ptr_null(wsg_cfg_load_string("bogus = 1;\n", "test.conf", small, sizeof(small)));
    ck_assert_str_eq(small, "test.con");
    ck_assert_ptr_null(wsg_cfg_load_string("bogus = 1;\n", "test.conf", NULL, 0));
}
END_TEST

/* A scratch directory per test (Check forks each test into its own
 * process, and the tests may run side by side with another build's). */

static void
make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/wsg-test-config-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
write_file(const char *name, const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void
remove_tmpdir(const char *const *names, size_t n)
{
    char path[128];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

START_TEST(test_missing_file_error_names_the_file_and_the_reason)
{
    const char *path = "/nonexistent-wsgate-dir/wsgated.conf";
    ck_assert_ptr_null(wsg_cfg_load_file(path, err, sizeof(err)));
    char want[256];
    snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_directory_given_as_the_file_is_rejected)
{
    const char *path = TEST_SRCDIR "/etc";
    ck_assert_ptr_null(wsg_cfg_load_file(path, err, sizeof(err)));
    char want[512];
    snprintf(want, sizeof(want), "%s: %s", path, strerror(EISDIR));
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_errors_in_a_file_name_the_file_and_line)
{
    char path[128], want[256];
    make_tmpdir();
    write_file("w.conf", LISTEN ECHO "\nlimits = { max_frames = 1; };\n", path, sizeof(path));
    ck_assert_ptr_null(wsg_cfg_load_file(path, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s:4: unknown key \"max_frames\" in limits", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got: %s", err);

    write_file("w.conf", LISTEN "endpoints = (\n", path, sizeof(path));
    ck_assert_ptr_null(wsg_cfg_load_file(path, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s:3: syntax error", path);
    ck_assert_str_eq(err, want);
    remove_tmpdir((const char *[]){ "w.conf" }, 1);
}
END_TEST

/* @include is relative to the including file's directory, not to the
 * current directory (the tests run from the build tree). */
START_TEST(test_include_is_relative_to_the_file_directory)
{
    char path[128], inc[128];
    make_tmpdir();
    write_file("limits.conf", "limits = {\n  idle_timeout = 42;\n};\n", inc, sizeof(inc));
    write_file("main.conf", LISTEN ECHO "@include \"limits.conf\"\n", path, sizeof(path));
    struct wsg_config *cfg = wsg_cfg_load_file(path, err, sizeof(err));
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_uint_eq(cfg->limits.idle_timeout_ms, 42000);
    ck_assert_uint_eq(cfg->endpoints[0].limits.idle_timeout_ms, 42000);
    wsg_cfg_free(cfg);

    /* An error inside the included file names that file. */
    write_file("limits.conf", "limits = {\n  idle_timeout = -1;\n};\n", inc, sizeof(inc));
    ck_assert_ptr_null(wsg_cfg_load_file(path, err, sizeof(err)));
    ck_assert_str_eq(err, "limits.conf:2: idle_timeout must not be negative");
    remove_tmpdir((const char *[]){ "limits.conf", "main.conf" }, 2);
}
END_TEST

START_TEST(test_duplicate_across_an_include_names_the_other_file)
{
    char path[128], inc[128], want[256];
    make_tmpdir();
    write_file("more.conf", "{ path = \"/echo\"; module = \"echo\"; }\n", inc, sizeof(inc));
    write_file("main.conf", LISTEN "endpoints = (\n  @include \"more.conf\"\n"
               "  , { path = \"/echo\"; module = \"echo\"; } );\n", path, sizeof(path));
    ck_assert_ptr_null(wsg_cfg_load_file(path, err, sizeof(err)));
    snprintf(want, sizeof(want),
             "%s:4: endpoint path \"/echo\" already used at more.conf:1", path);
    ck_assert_str_eq(err, want);
    remove_tmpdir((const char *[]){ "more.conf", "main.conf" }, 2);
}
END_TEST

/* ---- compression (permessage-deflate) ---------------------------------- */

static void
assert_default_compression(const struct wsg_deflate_cfg *c)
{
    ck_assert(!c->enabled);
    ck_assert_uint_eq(c->level, 6);
    ck_assert_uint_eq(c->mem_level, 8);
    ck_assert_uint_eq(c->server_max_window_bits, 15);
    ck_assert_uint_eq(c->client_max_window_bits, 15);
    ck_assert(!c->server_no_context_takeover);
    ck_assert(!c->client_no_context_takeover);
    ck_assert_uint_eq(c->min_size, 64);
}

START_TEST(test_compression_is_off_by_default_with_zlib_defaults)
{
    struct wsg_config *cfg = load_ok(LISTEN ECHO);
    assert_default_compression(&cfg->compression);
    assert_default_compression(&cfg->endpoints[0].compression);
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_every_compression_key_is_read_and_endpoints_inherit_it)
{
    struct wsg_config *cfg = load_ok(
        LISTEN
        "endpoints = ( { path = \"/a\"; module = \"echo\"; },\n"
        "  { path = \"/b\"; module = \"echo\";\n"
        "    compression = { level = 1; client_no_context_takeover = false; }; } );\n"
        "compression = { enabled = true; level = 9; mem_level = 2;\n"
        "  server_max_window_bits = 8; client_max_window_bits = 10;\n"
        "  server_no_context_takeover = true; client_no_context_takeover = true;\n"
        "  min_size = 0; };\n");
    for (size_t i = 0; i < 3; i++) {
        const struct wsg_deflate_cfg *c = i == 0 ? &cfg->compression
                                                 : &cfg->endpoints[i - 1].compression;
        ck_assert(c->enabled);
        ck_assert_uint_eq(c->level, i == 2 ? 1 : 9);
        ck_assert_uint_eq(c->mem_level, 2);
        ck_assert_uint_eq(c->server_max_window_bits, 8);
        ck_assert_uint_eq(c->client_max_window_bits, 10);
        ck_assert(c->server_no_context_takeover);
        ck_assert(c->client_no_context_takeover == (i != 2));
        ck_assert_uint_eq(c->min_size, 0);
    }
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_endpoint_compression_alone_leaves_the_global_default)
{
    struct wsg_config *cfg = load_ok(
        LISTEN "endpoints = ( { path = \"/z\"; module = \"echo\";\n"
        "  compression = { enabled = true; min_size = 1000000; }; },\n"
        "  { path = \"/p\"; module = \"echo\"; } );\n");
    assert_default_compression(&cfg->compression);
    assert_default_compression(&cfg->endpoints[1].compression);
    ck_assert(cfg->endpoints[0].compression.enabled);
    ck_assert_uint_eq(cfg->endpoints[0].compression.min_size, 1000000);
    ck_assert_uint_eq(cfg->endpoints[0].compression.level, 6);
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_compression_values_out_of_range_are_rejected)
{
    expect_error(LISTEN ECHO "compression = { level = 10; };\n",
                 "test.conf:3: level must be between 0 and 9, not 10");
    expect_error(LISTEN ECHO "compression = { mem_level = 0; };\n",
                 "test.conf:3: mem_level must be between 1 and 9, not 0");
    expect_error(LISTEN ECHO "compression = { server_max_window_bits = 7; };\n",
                 "test.conf:3: server_max_window_bits must be between 8 and 15, not 7");
    expect_error(LISTEN ECHO "compression = { client_max_window_bits = 16; };\n",
                 "test.conf:3: client_max_window_bits must be between 8 and 15, not 16");
    expect_error(LISTEN ECHO "compression = { min_size = -1; };\n",
                 "test.conf:3: min_size must be between 0 and 4294967295, not -1");
    expect_error(LISTEN ECHO "compression = { enabled = \"yes\"; };\n",
                 "test.conf:3: enabled must be true or false");
    expect_error(LISTEN ECHO "compression = true;\n",
                 "test.conf:3: compression must be a group: compression = { ... };");
}
END_TEST

START_TEST(test_unknown_compression_key_lists_the_valid_ones)
{
    expect_error(LISTEN "endpoints = ( { path = \"/e\"; module = \"echo\";\n"
                 "  compression = { window_bits = 10; }; } );\n",
                 "test.conf:3: unknown key \"window_bits\" in compression (valid: enabled, "
                 "level, mem_level, server_max_window_bits, client_max_window_bits, "
                 "server_no_context_takeover, client_no_context_takeover, min_size)");
}
END_TEST

/* ---- trusted_proxies and the client behind them ------------------------ */

static bool
trusted(const struct wsg_config *cfg, const char *addr)
{
    uint8_t a[16];
    ck_assert_msg(wsg_addr_parse(addr, a), "not an address: %s", addr);
    return wsg_cidr_list_match(cfg->trusted_proxies, cfg->ntrusted_proxies, a);
}

START_TEST(test_trusted_proxies_default_to_none)
{
    struct wsg_config *cfg = load_ok(LISTEN ECHO);
    ck_assert_uint_eq(cfg->ntrusted_proxies, 0);
    ck_assert(!trusted(cfg, "127.0.0.1"));
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_trusted_proxies_take_ipv4_and_ipv6_ranges_and_addresses)
{
    struct wsg_config *cfg = load_ok(LISTEN ECHO
        "trusted_proxies = [ \"127.0.0.1\", \"10.0.0.0/8\", \"2001:db8::/32\", \"::1\", "
        "\"0.0.0.0/0\" ];\n");
    ck_assert_uint_eq(cfg->ntrusted_proxies, 5);
    wsg_cfg_free(cfg);

    cfg = load_ok(LISTEN ECHO
        "trusted_proxies = [ \"127.0.0.1\", \"10.0.0.0/8\", \"2001:db8::/32\", \"::1\" ];\n");
    ck_assert(trusted(cfg, "127.0.0.1"));
    ck_assert(!trusted(cfg, "127.0.0.2"));
    ck_assert(trusted(cfg, "10.255.1.2"));
    ck_assert(!trusted(cfg, "11.0.0.1"));
    ck_assert(trusted(cfg, "2001:db8:ffff::5"));
    ck_assert(!trusted(cfg, "2001:db9::5"));
    ck_assert(trusted(cfg, "::1"));
    ck_assert(!trusted(cfg, "::2"));
    /* An IPv4 peer on a dual-stack socket is the same peer. */
    ck_assert(trusted(cfg, "::ffff:10.1.1.1"));
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_trusted_proxy_ranges_ignore_host_bits_and_odd_prefixes)
{
    struct wsg_config *cfg = load_ok(LISTEN ECHO
        "trusted_proxies = [ \"10.1.2.3/8\", \"192.168.7.0/23\", \"fd00::1/7\" ];\n");
    ck_assert(trusted(cfg, "10.9.9.9"));
    ck_assert(trusted(cfg, "192.168.6.1"));
    ck_assert(!trusted(cfg, "192.168.8.1"));
    ck_assert(trusted(cfg, "fc12::1"));
    ck_assert(!trusted(cfg, "fe00::1"));
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_bad_trusted_proxies_are_rejected_with_the_entry)
{
    static const char *bad[] = {
        "\"10.0.0.0/33\"", "\"::/129\"", "\"example.com\"", "\"10.0.0.0/\"",
        "\"10.0.0.0/8x\"", "\"/8\"", "\"1.2.3\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), LISTEN ECHO "trusted_proxies = [ %s ];\n", bad[i]);
        ck_assert_ptr_null(load(text));
        ck_assert_msg(strstr(err, "test.conf:3: trusted_proxies entry") != NULL
                      && strstr(err, "is not an IPv4 or IPv6 address or CIDR range") != NULL,
                      "%s: %s", bad[i], err);
    }
    ck_assert_ptr_null(load(LISTEN ECHO "trusted_proxies = \"10.0.0.0/8\";\n"));
    ck_assert_msg(strstr(err, "trusted_proxies must be an array") != NULL, "%s", err);
    ck_assert_ptr_null(load(LISTEN ECHO "trusted_proxies = [ 10 ];\n"));
    ck_assert_msg(strstr(err, "trusted_proxies entries must be strings") != NULL, "%s", err);
}
END_TEST

#define HDR(n, v) { .name = n, .name_len = sizeof(n) - 1, .value = v, .value_len = sizeof(v) - 1 }

static struct wsg_config *
proxies_cfg(void)
{
    return load_ok(LISTEN ECHO "trusted_proxies = [ \"127.0.0.1\", \"10.0.0.0/8\" ];\n");
}

START_TEST(test_forwarded_headers_from_an_untrusted_peer_are_ignored)
{
    struct wsg_config *cfg = proxies_cfg();
    struct wsg_header h[] = { HDR("X-Forwarded-For", "203.0.113.9"),
                              HDR("X-Forwarded-Proto", "https") };
    struct wsg_forwarded f = { .addr = "untouched" };
    ck_assert(!wsg_forwarded_client(cfg->trusted_proxies, cfg->ntrusted_proxies,
                                    "192.0.2.1", h, 2, &f));
    ck_assert_str_eq(f.addr, "untouched");
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_client_is_the_last_untrusted_hop_of_x_forwarded_for)
{
    struct wsg_config *cfg = proxies_cfg();
    /* A client that forges a hop on the left is not believed: the hop
     * appended by the first trusted proxy is. */
    struct wsg_header h[] = { HDR("X-Forwarded-For", "6.6.6.6, 198.51.100.1"),
                              HDR("x-forwarded-for", "10.0.0.5") };
    struct wsg_forwarded f;
    ck_assert(wsg_forwarded_client(cfg->trusted_proxies, cfg->ntrusted_proxies,
                                   "127.0.0.1", h, 2, &f));
    ck_assert_str_eq(f.addr, "198.51.100.1");
    ck_assert_uint_eq(f.port, 0);
    ck_assert_int_eq(f.secure, -1);
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_all_trusted_hops_give_the_leftmost_and_garbage_gives_none)
{
    struct wsg_config *cfg = proxies_cfg();
    struct wsg_header all[] = { HDR("X-Forwarded-For", "10.1.1.1, 10.2.2.2") };
    struct wsg_header junk[] = { HDR("X-Forwarded-For", "203.0.113.9, unknown") };
    struct wsg_forwarded f;
    ck_assert(wsg_forwarded_client(cfg->trusted_proxies, cfg->ntrusted_proxies,
                                   "10.3.3.3", all, 1, &f));
    ck_assert_str_eq(f.addr, "10.1.1.1");
    ck_assert(wsg_forwarded_client(cfg->trusted_proxies, cfg->ntrusted_proxies,
                                   "10.3.3.3", junk, 1, &f));
    ck_assert_str_eq(f.addr, "");
    wsg_cfg_free(cfg);
}
END_TEST

START_TEST(test_rfc7239_forwarded_and_the_scheme)
{
    struct wsg_config *cfg = proxies_cfg();
    struct wsg_header h[] = {
        HDR("Forwarded", "for=192.0.2.60;proto=http, for=\"[2001:DB8::7]:4711\";proto=https"),
    };
    struct wsg_forwarded f;
    ck_assert(wsg_forwarded_client(cfg->trusted_proxies, cfg->ntrusted_proxies,
                                   "127.0.0.1", h, 1, &f));
    ck_assert_str_eq(f.addr, "2001:db8::7");
    ck_assert_uint_eq(f.port, 4711);
    ck_assert_int_eq(f.secure, 1);

    struct wsg_header both[] = { HDR("Forwarded", "for=192.0.2.60"),
                                 HDR("X-Forwarded-For", "198.51.100.2"),
                                 HDR("X-Forwarded-Proto", "http") };
    ck_assert(wsg_forwarded_client(cfg->trusted_proxies, cfg->ntrusted_proxies,
                                   "127.0.0.1", both, 3, &f));
    ck_assert_str_eq(f.addr, "198.51.100.2");
    ck_assert_int_eq(f.secure, 0);
    wsg_cfg_free(cfg);
}
END_TEST

Suite *
config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("defaults");
    tcase_add_test(tc, test_minimal_config_gets_every_default);
    tcase_add_test(tc, test_embedded_default_serves_echo_and_broadcast_on_loopback_8080);
    tcase_add_test(tc, test_sample_file_loads_and_documents_the_true_defaults);
    tcase_add_test(tc, test_sample_file_examples_are_valid_when_uncommented);
    tcase_add_test(tc, test_free_null_is_a_no_op);
    tcase_add_test(tc, test_every_key_is_read_into_its_field);
    suite_add_tcase(s, tc);

    tc = tcase_create("schema");
    tcase_add_test(tc, test_unknown_top_level_key_is_rejected_with_valid_keys);
    tcase_add_test(tc, test_unknown_limit_key_is_rejected_with_line);
    tcase_add_test(tc, test_unknown_endpoint_limit_key_lists_only_endpoint_keys);
    tcase_add_test(tc, test_global_only_limits_are_rejected_in_an_endpoint);
    tcase_add_test(tc, test_unknown_keys_in_every_group_are_rejected);
    tcase_add_test(tc, test_options_may_hold_any_keys_for_the_module);
    tcase_add_test(tc, test_missing_listen_or_endpoints_is_rejected);
    tcase_add_test(tc, test_empty_listen_or_endpoints_list_is_rejected);
    tcase_add_test(tc, test_listen_must_be_a_list_of_groups);
    tcase_add_test(tc, test_missing_required_keys_are_reported_at_their_group);
    tcase_add_test(tc, test_groups_and_strings_of_the_wrong_type_are_rejected);
    suite_add_tcase(s, tc);

    tc = tcase_create("listen");
    tcase_add_test(tc, test_ipv4_and_ipv6_literals_are_accepted);
    tcase_add_test(tc, test_host_names_and_bad_addresses_are_rejected);
    tcase_add_test(tc, test_port_out_of_range_or_not_an_integer_is_rejected);
    tcase_add_test(tc, test_backlog_must_be_positive);
    tcase_add_test(tc, test_verify_client_needs_a_ca_file);
    tcase_add_test(tc, test_bool_keys_reject_strings);
    tcase_add_test(tc, test_tls_must_be_a_group);
    tcase_add_test(tc, test_tls_sni_certificates_are_listed_in_order);
    tcase_add_test(tc, test_tls_sni_entry_needs_a_key_and_known_keys_only);
    tcase_add_test(tc, test_duplicate_listen_address_and_port_is_rejected);
    tcase_add_test(tc, test_same_port_on_different_addresses_is_accepted);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, test_sizes_take_bytes_or_binary_units_in_any_case);
    tcase_add_test(tc, test_sizes_above_32_bits_work_as_strings_and_int64);
    tcase_add_test(tc, test_malformed_sizes_are_rejected);
    tcase_add_test(tc, test_zero_negative_and_overflowing_sizes_are_rejected);
    tcase_add_test(tc, test_sizes_reject_floats_and_bools);
    tcase_add_test(tc, test_times_are_seconds_with_fractions_stored_in_ms);
    tcase_add_test(tc, test_negative_or_huge_times_are_rejected);
    tcase_add_test(tc, test_handshake_and_close_timeouts_must_be_positive);
    tcase_add_test(tc, test_connection_counts_take_zero_but_not_negatives);
    tcase_add_test(tc, test_slow_consumer_policy_names_are_checked);
    tcase_add_test(tc, test_log_levels_map_to_syslog_levels);
    tcase_add_test(tc, test_bad_log_level_and_target_list_the_valid_names);
    tcase_add_test(tc, test_max_frame_above_max_message_is_rejected);
    tcase_add_test(tc, test_endpoint_max_message_below_inherited_max_frame_is_rejected);
    tcase_add_test(tc, test_equal_max_frame_and_max_message_is_accepted);
    tcase_add_test(tc, test_endpoint_limits_inherit_global_ones_whatever_the_order);
    tcase_add_test(tc, test_endpoint_override_changes_only_that_endpoint);
    suite_add_tcase(s, tc);

    tc = tcase_create("compression");
    tcase_add_test(tc, test_compression_is_off_by_default_with_zlib_defaults);
    tcase_add_test(tc, test_every_compression_key_is_read_and_endpoints_inherit_it);
    tcase_add_test(tc, test_endpoint_compression_alone_leaves_the_global_default);
    tcase_add_test(tc, test_compression_values_out_of_range_are_rejected);
    tcase_add_test(tc, test_unknown_compression_key_lists_the_valid_ones);
    suite_add_tcase(s, tc);

    tc = tcase_create("endpoints");
    tcase_add_test(tc, test_endpoint_paths_must_be_request_paths);
    tcase_add_test(tc, test_module_names_are_lowercase_file_names);
    tcase_add_test(tc, test_duplicate_endpoint_path_is_rejected_with_both_lines);
    tcase_add_test(tc, test_subprotocols_may_be_an_array_or_a_list);
    tcase_add_test(tc, test_subprotocols_must_be_distinct_tokens);
    tcase_add_test(tc, test_subprotocol_required_needs_subprotocols);
    tcase_add_test(tc, test_allowed_origins_must_be_origins);
    tcase_add_test(tc, test_find_endpoint_compares_the_given_length_only);
    tcase_add_test(tc, test_prefix_endpoint_serves_paths_below_it_and_exact_wins);
    tcase_add_test(tc, test_unknown_match_mode_is_rejected);
    suite_add_tcase(s, tc);

    tc = tcase_create("trusted_proxies");
    tcase_add_test(tc, test_trusted_proxies_default_to_none);
    tcase_add_test(tc, test_trusted_proxies_take_ipv4_and_ipv6_ranges_and_addresses);
    tcase_add_test(tc, test_trusted_proxy_ranges_ignore_host_bits_and_odd_prefixes);
    tcase_add_test(tc, test_bad_trusted_proxies_are_rejected_with_the_entry);
    tcase_add_test(tc, test_forwarded_headers_from_an_untrusted_peer_are_ignored);
    tcase_add_test(tc, test_client_is_the_last_untrusted_hop_of_x_forwarded_for);
    tcase_add_test(tc, test_all_trusted_hops_give_the_leftmost_and_garbage_gives_none);
    tcase_add_test(tc, test_rfc7239_forwarded_and_the_scheme);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_test(tc, test_parse_error_names_the_string_config_and_line);
    tcase_add_test(tc, test_duplicate_key_in_a_group_is_a_parse_error);
    tcase_add_test(tc, test_tiny_error_buffers_are_truncated_not_overrun);
    tcase_add_test(tc, test_missing_file_error_names_the_file_and_the_reason);
    tcase_add_test(tc, test_directory_given_as_the_file_is_rejected);
    tcase_add_test(tc, test_errors_in_a_file_name_the_file_and_line);
    tcase_add_test(tc, test_include_is_relative_to_the_file_directory);
    tcase_add_test(tc, test_duplicate_across_an_include_names_the_other_file);
    tcase_add_test(tc, test_metrics_access_log_and_rate_keys_are_read);
    tcase_add_test(tc, test_metrics_are_off_by_default_and_on_loopback_when_set);
    tcase_add_test(tc, test_bad_metrics_settings_are_rejected);
    tcase_add_test(tc, test_bad_access_log_is_rejected);
    tcase_add_test(tc, test_bad_rate_limits_are_rejected);
    tcase_add_test(tc, test_workers_is_read_and_bounded);
    suite_add_tcase(s, tc);
    return s;
}
