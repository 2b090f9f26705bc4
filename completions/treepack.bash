# bash completion for treepack(1)
_treepack()
{
    local cur prev cmd
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    cmd=${COMP_WORDS[1]}

    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "compress expand info test inspect --help --version" -- "$cur"))
        return
    fi
    case $prev in
        -o|--output)
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        -T|--threads|--level|--trust|--max-memory)
            return ;;
    esac
    if [[ $cur == -* ]]; then
        local opts="-o --output -c --stdout -f --force -k --keep -q --quiet -v --verbose -h --help"
        case $cmd in
            compress) opts="$opts -1 -3 -9 -19 --level= -T --threads= --trust= --allow-unsafe --max-memory=" ;;
            expand|test) opts="$opts --trust= --allow-unsafe --max-memory=" ;;
            inspect) opts="$opts --json --trust= --max-memory=" ;;
            info) opts="$opts --json" ;;
        esac
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    # files: .tpk for expand/info/test, anything else for compress
    case $cmd in
        expand|info|test) COMPREPLY=($(compgen -f -X '!*.tpk' -- "$cur") $(compgen -d -- "$cur")) ;;
        *) COMPREPLY=($(compgen -f -- "$cur")) ;;
    esac
}
complete -o filenames -F _treepack treepack
