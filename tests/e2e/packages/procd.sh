# A stand-in for OpenWrt's /lib/functions/procd.sh, for tests/e2e/packages.sh: the calls
# an init script makes to describe its service are written to a spec file, one
# "KEY<TAB>VALUE..." line per parameter, and handed to stub-procd, which runs it the way
# procd would (command, respawn, stdout/stderr to the log). A parameter or call this stub
# does not know fails the script, so a typo in the init script cannot pass.

_procd_dir=/var/run/stub-procd

procd_open_service() {
	_procd_service=$1
	mkdir -p "$_procd_dir"
	_procd_spec="$_procd_dir/$1.spec.new"
	: >"$_procd_spec"
}
procd_open_instance() {
	printf 'instance\t%s\n' "${1:-instance1}" >>"$_procd_spec"
}
procd_set_param() {
	key=$1
	shift
	case $key in
	command | respawn | stdout | stderr | file | env | pidfile | netdev | user | group | term_timeout) ;;
	*) echo "procd stub: unknown parameter $key" >&2; return 1 ;;
	esac
	line=$key
	for a in "$@"; do line="$line	$a"; done
	printf '%s\n' "$line" >>"$_procd_spec"
}
procd_append_param() { procd_set_param "$@"; }
procd_close_instance() {
	printf 'end\n' >>"$_procd_spec"
}
procd_abort_service() {
	rm -f "$_procd_spec"
}
procd_close_service() {
	mv -f "$_procd_spec" "$_procd_dir/$_procd_service.spec"
	stub-procd start "$_procd_service"
}
procd_kill() {
	stub-procd stop "$1"
}
procd_running() {
	stub-procd status "$1" >/dev/null
}
