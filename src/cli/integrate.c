/* SPDX-License-Identifier: Apache-2.0 */
/* cli/integrate.c: fedbroker integrate: the proxy configuration that puts an app behind forward
 * auth. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/conf.h"
#include "http/http.h"
#include "cli/cli.h"

static const char usage_integrate[] =
    "usage: fedbroker integrate nginx|caddy|traefik|istio --app NAME [--fedbroker URL]\n"
    "                           [--backend URL] [--service HOST] [--port N]\n"
    "                           [--gateway NS/NAME] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Prints the configuration that puts app NAME (its name in apps:) behind\n"
    "fedbroker's forward auth with that proxy: every request is checked by\n"
    "fedbroker first, people without a session are sent to sign in, the app's\n"
    "identity headers reach the app, and /_fedbroker/callback on each of the\n"
    "app's hosts is routed to fedbroker (it sets the app's own session cookie).\n"
    "The client's Authorization header reaches the check (Bearer access tokens\n"
    "of fedbroker's provider); with apps[].pass_access_token the proxy copies\n"
    "the access token fedbroker answers with upstream.\n"
    "\n"
    "  nginx    server blocks with auth_request (error_page 401 signs in)\n"
    "  caddy    site blocks with forward_auth\n"
    "  traefik  dynamic configuration (file provider): forwardAuth middleware\n"
    "  istio    meshConfig extensionProviders entry (envoyExtAuthzHttp), the\n"
    "           CUSTOM AuthorizationPolicy and the VirtualService route\n"
    "\n"
    "The proxy's address must be in server.trusted_proxies (nginx, Caddy,\n"
    "Traefik: fedbroker reads the original URL from their X-Forwarded-* or\n"
    "X-Original-URL headers only then).\n"
    "\n"
    "  -a, --app NAME       the app\n"
    "      --fedbroker URL  where the proxy reaches fedbroker (default:\n"
    "                       server.public_url)\n"
    "      --backend URL    where the proxy reaches the app (default: a placeholder)\n"
    "      --service HOST   istio: fedbroker's Kubernetes service (default:\n"
    "                       fedbroker.fedbroker.svc.cluster.local)\n"
    "      --port N         istio: the service's port (default 8080)\n"
    "      --gateway GW     istio: the Gateway of the app's hosts (default:\n"
    "                       istio-system/ingressgateway)\n" FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

struct target {
	const struct fb_conf_app *app;
	const char *fedbroker; /* where the proxy reaches fedbroker: base URL, no trailing slash */
	const char *backend;
	const char *service;
	const char *port;
	const char *gateway;
};

/*
 * The header names the app sends (identity headers not turned off, mapped
 * ones, and the access token's with pass_access_token): what the proxy copies upstream.
 */
static size_t
headers_of(const struct fb_conf_app *a, const char **out, size_t max)
{
	const char *fixed[] = {a->header_username, a->header_email, a->header_groups,
	    a->header_name};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) && n < max; i++)
		if (fixed[i] != NULL && fixed[i][0] != '\0')
			out[n++] = fixed[i];
	for (size_t i = 0; i < a->nmapped && n < max; i++)
		out[n++] = a->mapped[i].header;
	if (a->pass_access_token && n < max)
		out[n++] = a->access_token_header;
	return n;
}

/* "host" of "host/prefix" into buf. */
static const char *
host_part(const char *h, char *buf, size_t len)
{
	snprintf(buf, len, "%.*s", (int)strcspn(h, "/"), h);
	return buf;
}

/* nginx's $upstream_http_x_forwarded_user for "X-Forwarded-User". */
static void
nginx_var(const char *header, char *out, size_t len)
{
	size_t i;

	for (i = 0; header[i] != '\0' && i + 1 < len; i++)
		out[i] = header[i] == '-' ? '_' : (char)tolower((unsigned char)header[i]);
	out[i] = '\0';
}

static void
print_nginx(const struct target *t)
{
	const char *hdrs[40];
	size_t nh = headers_of(t->app, hdrs, 40);
	char host[256], var[80];

	printf("# fedbroker forward auth for app '%s' (nginx auth_request).\n"
	       "# server.trusted_proxies in fedbroker's configuration must list this nginx's "
	       "address.\n",
	    t->app->name);
	for (size_t h = 0; h < t->app->nhosts; h++) {
		const char *prefix = t->app->hosts[h] + strcspn(t->app->hosts[h], "/");

		printf("server {\n"
		       "\tlisten 80; # your listen and TLS lines\n"
		       "\tserver_name %s;\n\n",
		    host_part(t->app->hosts[h], host, sizeof(host)));
		printf("\tlocation = /_fedbroker/auth {\n"
		       "\t\tinternal;\n"
		       "\t\tproxy_pass %s%s;\n"
		       "\t\tproxy_pass_request_body off;\n"
		       "\t\tproxy_set_header Content-Length \"\";\n"
		       "\t\tproxy_set_header X-Original-URL $scheme://$http_host$request_uri;\n"
		       "\t\tproxy_set_header X-Original-Method $request_method;\n"
		       "\t\tproxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
		       "\t}\n\n",
		    t->fedbroker, FB_HTTP_AUTHZ_NGINX);
		printf("\tlocation = %s {\n"
		       "\t\tproxy_pass %s;\n"
		       "\t\tproxy_set_header Host $http_host;\n"
		       "\t\tproxy_set_header X-Forwarded-Host $http_host;\n"
		       "\t\tproxy_set_header X-Forwarded-Proto $scheme;\n"
		       "\t\tproxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
		       "\t}\n\n",
		    FB_HTTP_AUTHZ_CALLBACK, t->fedbroker);
		/* fedbroker answers the redirect, with the state cookie that guards the hand-off.
		 */
		printf("\tlocation @fedbroker_signin {\n"
		       "\t\trewrite ^ %s? break;\n"
		       "\t\tproxy_pass %s;\n"
		       "\t\tproxy_pass_request_body off;\n"
		       "\t\tproxy_set_header Content-Length \"\";\n"
		       "\t\tproxy_set_header Accept text/html;\n"
		       "\t\tproxy_set_header X-Original-URL $scheme://$http_host$request_uri;\n"
		       "\t\tproxy_set_header X-Original-Method $request_method;\n"
		       "\t\tproxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
		       "\t}\n\n",
		    FB_HTTP_AUTHZ_NGINX_SIGNIN, t->fedbroker);
		printf("\tlocation %s {\n"
		       "\t\tauth_request /_fedbroker/auth;\n"
		       "\t\terror_page 401 = @fedbroker_signin;\n",
		    *prefix != '\0' ? prefix : "/");
		for (size_t i = 0; i < nh; i++) {
			nginx_var(hdrs[i], var, sizeof(var));
			printf("\t\tauth_request_set $fb_%s $upstream_http_%s;\n", var, var);
		}
		/* SECURITY: set even when empty: a client's own X-Forwarded-User never passes. */
		for (size_t i = 0; i < nh; i++) {
			nginx_var(hdrs[i], var, sizeof(var));
			printf("\t\tproxy_set_header %s $fb_%s;\n", hdrs[i], var);
		}
		printf("\t\tproxy_pass %s;\n"
		       "\t}\n"
		       "}\n",
		    t->backend);
	}
}

static void
print_caddy(const struct target *t)
{
	const char *hdrs[40];
	size_t nh = headers_of(t->app, hdrs, 40);
	const char *addr = t->fedbroker + (strncmp(t->fedbroker, "http://", 7) == 0 ? 7 : 0);
	char host[256];

	printf("# fedbroker forward auth for app '%s' (Caddy forward_auth).\n"
	       "# server.trusted_proxies in fedbroker's configuration must list this Caddy's "
	       "address.\n",
	    t->app->name);
	for (size_t h = 0; h < t->app->nhosts; h++) {
		const char *prefix = t->app->hosts[h] + strcspn(t->app->hosts[h], "/");

		printf("%s {\n"
		       "\thandle %s {\n"
		       "\t\treverse_proxy %s\n"
		       "\t}\n"
		       "\thandle %s%s {\n"
		       "\t\tforward_auth %s {\n"
		       "\t\t\turi %s\n",
		    host_part(t->app->hosts[h], host, sizeof(host)), FB_HTTP_AUTHZ_CALLBACK, addr,
		    *prefix != '\0' ? prefix : "", *prefix != '\0' ? "*" : "", addr,
		    FB_HTTP_AUTHZ_CADDY);
		if (nh > 0) {
			printf("\t\t\tcopy_headers");
			for (size_t i = 0; i < nh; i++)
				printf(" %s", hdrs[i]);
			printf("\n");
		}
		printf("\t\t}\n"
		       "\t\treverse_proxy %s\n"
		       "\t}\n"
		       "}\n",
		    t->backend + (strncmp(t->backend, "http://", 7) == 0 ? 7 : 0));
	}
}

static void
print_traefik(const struct target *t)
{
	const char *hdrs[40];
	size_t nh = headers_of(t->app, hdrs, 40);
	char host[256];

	printf("# fedbroker forward auth for app '%s' (Traefik dynamic configuration, file "
	       "provider).\n"
	       "# server.trusted_proxies in fedbroker's configuration must list Traefik's "
	       "address.\n"
	       "http:\n"
	       "  middlewares:\n"
	       "    fedbroker-%s:\n"
	       "      forwardAuth:\n"
	       "        address: \"%s%s\"\n"
	       "        trustForwardHeader: false\n"
	       "        authResponseHeaders:\n",
	    t->app->name, t->app->name, t->fedbroker, FB_HTTP_AUTHZ_TRAEFIK);
	for (size_t i = 0; i < nh; i++)
		printf("          - \"%s\"\n", hdrs[i]);
	printf("  routers:\n"
	       "    %s-fedbroker-callback:\n"
	       "      rule: \"",
	    t->app->name);
	for (size_t h = 0; h < t->app->nhosts; h++)
		printf("%sHost(`%s`)", h > 0 ? " || " : "(",
		    host_part(t->app->hosts[h], host, sizeof(host)));
	printf(") && Path(`%s`)\"\n"
	       "      service: fedbroker\n"
	       "    %s:\n"
	       "      rule: \"",
	    FB_HTTP_AUTHZ_CALLBACK, t->app->name);
	for (size_t h = 0; h < t->app->nhosts; h++) {
		const char *prefix = t->app->hosts[h] + strcspn(t->app->hosts[h], "/");

		printf("%s(Host(`%s`)", h > 0 ? " || " : "",
		    host_part(t->app->hosts[h], host, sizeof(host)));
		if (*prefix != '\0')
			printf(" && PathPrefix(`%s`)", prefix);
		printf(")");
	}
	printf("\"\n"
	       "      middlewares:\n"
	       "        - fedbroker-%s\n"
	       "      service: %s\n"
	       "  services:\n"
	       "    fedbroker:\n"
	       "      loadBalancer:\n"
	       "        servers:\n"
	       "          - url: \"%s\"\n"
	       "    %s:\n"
	       "      loadBalancer:\n"
	       "        servers:\n"
	       "          - url: \"%s\"\n",
	    t->app->name, t->app->name, t->fedbroker, t->app->name, t->backend);
}

static void
print_istio(const struct target *t)
{
	const char *hdrs[40];
	size_t nh = headers_of(t->app, hdrs, 40);
	char host[256], lower[80];

	printf("# fedbroker forward auth for app '%s' (Istio, Envoy ext_authz HTTP service).\n"
	       "# 1. The mesh's extension provider (istiod's meshConfig: Helm values of istiod, "
	       "or the\n"
	       "#    IstioOperator's spec.meshConfig). Header names are lower case, as Envoy "
	       "compares them.\n"
	       "meshConfig:\n"
	       "  extensionProviders:\n"
	       "    - name: fedbroker\n"
	       "      envoyExtAuthzHttp:\n"
	       "        service: %s\n"
	       "        port: %s\n"
	       "        pathPrefix: %s\n"
	       "        includeRequestHeadersInCheck:\n"
	       "          - cookie\n"
	       "          - accept\n"
	       "          - authorization\n"
	       "          - x-forwarded-proto\n"
	       "        headersToUpstreamOnAllow:\n",
	    t->app->name, t->service, t->port, FB_HTTP_AUTHZ_ENVOY);
	for (size_t i = 0; i < nh; i++) {
		nginx_var(hdrs[i], lower, sizeof(lower));
		for (char *p = lower; *p != '\0'; p++)
			*p = *p == '_' ? '-' : *p;
		printf("          - %s\n", lower);
	}
	printf("---\n"
	       "# 2. Every request to the app's hosts is checked by fedbroker first (but the "
	       "callback).\n"
	       "apiVersion: security.istio.io/v1\n"
	       "kind: AuthorizationPolicy\n"
	       "metadata:\n"
	       "  name: fedbroker-%s\n"
	       "  namespace: %.*s\n"
	       "spec:\n"
	       "  selector:\n"
	       "    matchLabels:\n"
	       "      istio: %s\n"
	       "  action: CUSTOM\n"
	       "  provider:\n"
	       "    name: fedbroker\n"
	       "  rules:\n"
	       "    - to:\n"
	       "        - operation:\n"
	       "            hosts:\n",
	    t->app->name, (int)strcspn(t->gateway, "/"), t->gateway,
	    strchr(t->gateway, '/') != NULL ? strchr(t->gateway, '/') + 1 : t->gateway);
	for (size_t h = 0; h < t->app->nhosts; h++) {
		host_part(t->app->hosts[h], host, sizeof(host));
		printf("              - \"%s\"\n"
		       "              - \"%s:*\"\n",
		    host, host);
	}
	printf("            notPaths:\n"
	       "              - \"%s\"\n"
	       "---\n"
	       "# 3. The callback on the app's hosts goes to fedbroker: put this route first in "
	       "the\n"
	       "#    app's VirtualService (Istio does not merge two for the same host).\n"
	       "apiVersion: networking.istio.io/v1\n"
	       "kind: VirtualService\n"
	       "metadata:\n"
	       "  name: fedbroker-%s\n"
	       "  namespace: %.*s\n"
	       "spec:\n"
	       "  gateways:\n"
	       "    - %s\n"
	       "  hosts:\n",
	    FB_HTTP_AUTHZ_CALLBACK, t->app->name, (int)strcspn(t->gateway, "/"), t->gateway,
	    t->gateway);
	for (size_t h = 0; h < t->app->nhosts; h++)
		printf("    - \"%s\"\n", host_part(t->app->hosts[h], host, sizeof(host)));
	printf("  http:\n"
	       "    - match:\n"
	       "        - uri:\n"
	       "            exact: %s\n"
	       "      route:\n"
	       "        - destination:\n"
	       "            host: %s\n"
	       "            port:\n"
	       "              number: %s\n",
	    FB_HTTP_AUTHZ_CALLBACK, t->service, t->port);
}

const struct fb_conf_app *
fb_cli_app_get(const struct fb_conf *conf, const char *name)
{
	const struct fb_conf_app *a = fb_conf_app_find(conf, name);
	const char *best = NULL;
	int bestd = 4;

	if (a != NULL)
		return a;
	for (size_t i = 0; i < conf->napps; i++) {
		int d = fb_str_distance(name, conf->apps[i].name);

		if (d < bestd) {
			bestd = d;
			best = conf->apps[i].name;
		}
	}
	if (best != NULL)
		fprintf(stderr, "fedbroker: --app %s: no such app (did you mean '%s'?)\n", name,
		    best);
	else
		fprintf(stderr, "fedbroker: --app %s: no such app (%zu configured under apps:)\n",
		    name, conf->napps);
	return NULL;
}

/* 1 when s is a port number, 1 to 65535, digits only. */
static int
port_check(const char *s)
{
	char *end = NULL;
	long v;

	if (s[0] < '0' || s[0] > '9' || strlen(s) > 5)
		return 0;
	v = strtol(s, &end, 10);
	return *end == '\0' && v >= 1 && v <= 65535;
}

int
fb_cli_integrate(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *app = NULL, *proxy = NULL, *fedbroker = NULL, *backend = NULL, *service = NULL,
	           *port = NULL, *gateway = NULL;
	const struct fb_cli_option opts[] = {
	    {"app", 'a', &app, NULL},
	    {"fedbroker", 0, &fedbroker, NULL},
	    {"backend", 0, &backend, NULL},
	    {"service", 0, &service, NULL},
	    {"port", 0, &port, NULL},
	    {"gateway", 0, &gateway, NULL},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"integrate", usage_integrate, &co, opts, &proxy,
	    "name the proxy: nginx, caddy, traefik or istio"};
	struct target t = {0};
	struct fb_cli_ctx x;
	char *base = NULL;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (strcmp(proxy, "nginx") != 0 && strcmp(proxy, "caddy") != 0 &&
	    strcmp(proxy, "traefik") != 0 && strcmp(proxy, "istio") != 0)
		return fb_cli_usage_error(syntax.cmd,
		    "unknown proxy '%s' (known: nginx, caddy, traefik, istio)", proxy);
	if (app == NULL)
		return fb_cli_usage_error(syntax.cmd, "--app NAME is required");
	if (port != NULL && !port_check(port))
		return fb_cli_usage_error(syntax.cmd, "--port %s: not a port number", port);
	if ((rc = fb_cli_ctx_open(&co, 0, &x)) != FB_EXIT_OK)
		return rc;
	rc = FB_EXIT_FAIL;
	if ((t.app = fb_cli_app_get(x.conf, app)) == NULL)
		goto out;
	base = fb_xstrdup(fedbroker != NULL ? fedbroker : x.conf->public_url);
	while (base[0] != '\0' && base[strlen(base) - 1] == '/')
		base[strlen(base) - 1] = '\0';
	if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
		rc = fb_cli_usage_error(syntax.cmd, "--fedbroker %s: not an http(s) URL", base);
		goto out;
	}
	t.fedbroker = base;
	t.backend = backend != NULL ? backend : "http://127.0.0.1:3000";
	t.service = service != NULL ? service : "fedbroker.fedbroker.svc.cluster.local";
	t.port = port != NULL ? port : "8080";
	t.gateway = gateway != NULL ? gateway : "istio-system/ingressgateway";
	if (strcmp(proxy, "nginx") == 0)
		print_nginx(&t);
	else if (strcmp(proxy, "caddy") == 0)
		print_caddy(&t);
	else if (strcmp(proxy, "traefik") == 0)
		print_traefik(&t);
	else
		print_istio(&t);
	rc = FB_EXIT_OK;
out:
	free(base);
	fb_cli_ctx_close(&x);
	return rc;
}
