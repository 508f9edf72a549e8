# norm.jq: the parts of `report -f json` a golden file pins down, with what
# changes from run to run (addresses, pids, absolute paths) left out.
{
  summary,
  leaks: [.leaks[] | {kind, blocks, bytes, npids: (.pids | length),
          top: (.stack[0] | {function, file: ((.file // "") | split("/") | last), line})}],
  cycles: [.cycles[] | {blocks, bytes, members: (.members | length),
           member_function: .members[0].stack[0].function}],
  processes: [.processes[] | {exit_status, images}]
}
