// Boost.Fusion adaptation of the AST structs the X3 grammar fills member by
// member. Structs with a single member (Name, StrLit, CallOp, ListLit, ...)
// are filled by semantic actions instead: X3's handling of one-element
// fusion sequences is fragile.
#pragma once

#include <boost/fusion/include/adapt_struct.hpp>

#include "ast.hpp"

BOOST_FUSION_ADAPT_STRUCT(weft::ast::Unary, op, operand)
BOOST_FUSION_ADAPT_STRUCT(weft::ast::ChainStep, op, rhs)
BOOST_FUSION_ADAPT_STRUCT(weft::ast::MapEntry, key, value)
BOOST_FUSION_ADAPT_STRUCT(weft::ast::FnLit, params, body)
BOOST_FUSION_ADAPT_STRUCT(weft::ast::LetStmt, name, more, value)
BOOST_FUSION_ADAPT_STRUCT(weft::ast::FnStmt, name, params, body)
BOOST_FUSION_ADAPT_STRUCT(weft::ast::CondBlock, cond, body)
BOOST_FUSION_ADAPT_STRUCT(weft::ast::IfStmt, branches, else_body)
BOOST_FUSION_ADAPT_STRUCT(weft::ast::WhileStmt, cond, body)
BOOST_FUSION_ADAPT_STRUCT(weft::ast::ForStmt, first, second, iterable, body)
BOOST_FUSION_ADAPT_STRUCT(weft::ast::Param, rest, name, default_value)
BOOST_FUSION_ADAPT_STRUCT(weft::ast::CatchClause, var, body)
BOOST_FUSION_ADAPT_STRUCT(weft::ast::TryStmt, body, handler, finally_body)
