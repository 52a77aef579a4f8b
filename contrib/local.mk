# SPDX-License-Identifier: Apache-2.0
# make install: the rule files, the metadata, the systemd unit and an example
# configuration, with the configured paths (the binary and the man pages are
# bin_PROGRAMS and dist_man_MANS).
fbmappingsdir = $(pkgdatadir)/mappings
dist_fbmappings_DATA = mappings/aws_role.py mappings/aws_role_session_name.py \
	mappings/aws_session_duration.py mappings/aws_source_identity.py \
	mappings/aws_tag_groups.py mappings/scim_strip_photos.py \
	mappings/upstream_oidc.py mappings/upstream_saml.py
fbmetadatadir = $(pkgdatadir)/metadata
dist_fbmetadata_DATA = metadata/aws-signin-saml-metadata.xml \
	metadata/identity-center-sp-metadata.xml
fbconfdir = $(sysconfdir)/fedbroker

# The paths are substituted at make time, so `make install prefix=...` works.
fb_subst = sed -e 's|@pkgdatadir[@]|$(pkgdatadir)|g' -e 's|@localstatedir[@]|$(localstatedir)|g' \
	-e 's|@fbconfdir[@]|$(fbconfdir)|g' \
	-e 's|/usr/local/bin/fedbroker|$(bindir)/fedbroker|g' \
	-e 's|/etc/fedbroker/|$(fbconfdir)/|g'

install-data-local:
	$(MKDIR_P) '$(DESTDIR)$(fbconfdir)'
	@if test -f '$(DESTDIR)$(fbconfdir)/fedbroker.yaml'; then \
		echo "kept the existing $(DESTDIR)$(fbconfdir)/fedbroker.yaml"; \
	else \
		echo "$(fb_subst) $(srcdir)/contrib/fedbroker.yaml.in > $(DESTDIR)$(fbconfdir)/fedbroker.yaml"; \
		$(fb_subst) $(srcdir)/contrib/fedbroker.yaml.in > '$(DESTDIR)$(fbconfdir)/fedbroker.yaml' && \
		chmod 644 '$(DESTDIR)$(fbconfdir)/fedbroker.yaml'; \
	fi
if HAVE_SYSTEMD_UNITDIR
	$(MKDIR_P) '$(DESTDIR)$(systemdsystemunitdir)'
	$(fb_subst) $(srcdir)/contrib/systemd/fedbroker.service > '$(DESTDIR)$(systemdsystemunitdir)/fedbroker.service'
	chmod 644 '$(DESTDIR)$(systemdsystemunitdir)/fedbroker.service'
endif

# The configuration goes only when nobody changed it.
uninstall-local:
	@if $(fb_subst) $(srcdir)/contrib/fedbroker.yaml.in | cmp -s - '$(DESTDIR)$(fbconfdir)/fedbroker.yaml'; then \
		rm -f '$(DESTDIR)$(fbconfdir)/fedbroker.yaml'; \
	elif test -f '$(DESTDIR)$(fbconfdir)/fedbroker.yaml'; then \
		echo "kept the changed $(DESTDIR)$(fbconfdir)/fedbroker.yaml"; \
	fi
	rmdir '$(DESTDIR)$(fbconfdir)' 2>/dev/null || :
if HAVE_SYSTEMD_UNITDIR
	rm -f '$(DESTDIR)$(systemdsystemunitdir)/fedbroker.service'
endif

# distcheck installs as a user: the unit goes under its prefix.
DISTCHECK_CONFIGURE_FLAGS = --with-systemdsystemunitdir='$${libdir}/systemd/system'
EXTRA_DIST += .containerignore .dockerignore
