//! Human names of grammar rules, for "expected …" messages (E0101).

use super::Rule;

/// The name shown to users for a rule pest expected, or `None` to leave it out (rules
/// that only ever appear together with a more telling one).
pub(crate) fn rule_name(rule: Rule) -> Option<&'static str> {
    let name = match rule {
        Rule::ident | Rule::path | Rule::kind_ref => "a name",
        Rule::string | Rule::str_text => "a string",
        Rule::block_string => "a block string",
        Rule::integer => "an integer",
        Rule::duration => "a duration (like `90s`, `15m`, `2h`)",
        Rule::expr | Rule::call => {
            "an expression"
        }
        Rule::list => "a list `[…]`",
        Rule::map | Rule::map_entry => "a map `{ KEY = value }`",
        Rule::type_expr => "a type (like `string` or `list<string>`)",
        Rule::mode_value => "`superseded`, `queued` or `parallel`",
        Rule::attr | Rule::attr_block => "an attribute `NAME = value`",
        Rule::stage => "`stage`",
        Rule::action => "`action`",
        Rule::pipeline => "`pipeline`",
        Rule::template => "`template`",
        Rule::import => "`import`",
        Rule::transition => "`transition`",
        Rule::trigger_item => "`trigger`",
        Rule::param_item => "`param`",
        Rule::secret_item => "`secret`",
        Rule::mode_item => "`mode`",
        Rule::timeout_item => "`timeout`",
        Rule::stage_after => "`after`",
        Rule::entry => "`entry`",
        Rule::on_success | Rule::on_failure => "`on`",
        Rule::cmp_op => "an operator",
        Rule::or_op => "`||`",
        Rule::and_op => "`&&`",
        Rule::not_op => "`!`",
        Rule::EOI => "end of file",
        Rule::require_rule => "`require`",
        Rule::window_rule => "`window`",
        Rule::check_rule => "`check`",
        Rule::entry_else | Rule::success_else => "`else`",
        Rule::guard => "`when`",
        Rule::disabled => "`disabled`",
        Rule::failure_retry => "`retry`",
        Rule::output_from => "`NAME from \"PATH\"`",
        Rule::interp | Rule::escape | Rule::bescape | Rule::bstr_text => return None,
        other => return keyword(other),
    };
    Some(name)
}

fn keyword(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::k_import => "`import`",
        Rule::k_as => "`as`",
        Rule::k_pipeline => "`pipeline`",
        Rule::k_template => "`template`",
        Rule::k_mode => "`mode`",
        Rule::k_superseded => "`superseded`",
        Rule::k_queued => "`queued`",
        Rule::k_parallel => "`parallel`",
        Rule::k_timeout => "`timeout`",
        Rule::k_param => "`param`",
        Rule::k_secret => "`secret`",
        Rule::k_trigger => "`trigger`",
        Rule::k_stage => "`stage`",
        Rule::k_transition => "`transition`",
        Rule::k_when => "`when`",
        Rule::k_disabled => "`disabled`",
        Rule::k_after => "`after`",
        Rule::k_entry => "`entry`",
        Rule::k_on => "`on`",
        Rule::k_success => "`success`",
        Rule::k_failure => "`failure`",
        Rule::k_retry => "`retry`",
        Rule::k_failed => "`failed`",
        Rule::k_all => "`all`",
        Rule::k_rollback => "`rollback`",
        Rule::k_fail => "`fail`",
        Rule::k_skip => "`skip`",
        Rule::k_else => "`else`",
        Rule::k_require => "`require`",
        Rule::k_window => "`window`",
        Rule::k_tz => "`tz`",
        Rule::k_check => "`check`",
        Rule::k_action => "`action`",
        Rule::k_from => "`from`",
        Rule::k_true => "`true`",
        Rule::k_false => "`false`",
        Rule::k_in => "`in`",
        Rule::k_matches => "`matches`",
        _ => return None,
    })
}
