# bash completion for distctl
_distctl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local commands="status show preview log retry hold release cancel resend record purge reload check"
	case $prev in
	-c|--config|preview) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--state) COMPREPLY=($(compgen -W "queued sending deferred delivered failed held cancelled" -- "$cur")); return ;;
	--tier) COMPREPLY=($(compgen -W "报 送 发" -- "$cur")); return ;;
	--to|--replace|-n|--lines|--issue|--before) return ;;
	esac
	local i cmd=
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-c|--config|--state|--tier|--to|--replace|-n|--lines|--issue|--before) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	if [ -z "$cmd" ]; then
		COMPREPLY=($(compgen -W "$commands -c --config --json --help --version" -- "$cur"))
		return
	fi
	case $cmd in
	show) COMPREPLY=($(compgen -W "--state --pending --tier --json" -- "$cur")) ;;
	log) COMPREPLY=($(compgen -W "-n --lines -f --follow --issue --json" -- "$cur")) ;;
	retry) COMPREPLY=($(compgen -W "all --tier" -- "$cur")) ;;
	hold|release) COMPREPLY=($(compgen -W "--tier" -- "$cur")) ;;
	cancel) COMPREPLY=($(compgen -W "--tier --yes" -- "$cur")) ;;
	resend) COMPREPLY=($(compgen -W "--tier --to --replace --all" -- "$cur")) ;;
	record) COMPREPLY=($(compgen -W "--csv --html --json" -- "$cur")) ;;
	purge) COMPREPLY=($(compgen -W "--before --dry-run --json" -- "$cur")) ;;
	*) COMPREPLY=($(compgen -W "--json --help" -- "$cur")) ;;
	esac
}
complete -F _distctl distctl
